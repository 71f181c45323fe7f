using System.Buffers.Binary;
using System.Text;
using Autograd.Nn;

namespace Autograd.Nn.Tests;

public class SafeTensorsTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Directory.CreateTempSubdirectory("autograd-safetensors-").FullName;
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    /// <summary>A file built from the format's specification: u64 LE header length, the JSON header, the data.</summary>
    private string SpecFile(string header, byte[] data, ulong? declaredLength = null)
    {
        var path = Path.Combine(_dir, $"spec-{Guid.NewGuid():N}.safetensors");
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)h.Length);
        h.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + h.Length);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] F32(params float[] values)
    {
        var bytes = new byte[4 * values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        }

        return bytes;
    }

    private static byte[] F64(params double[] values)
    {
        var bytes = new byte[8 * values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(8 * i), values[i]);
        }

        return bytes;
    }

    [Test]
    public void AFileWrittenFromTheSpecification_Loads()
    {
        // Entries out of offset order, metadata last, trailing spaces in the header: all allowed by the format.
        var path = SpecFile(
            """{"b":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]},"__metadata__":{"format":"pt"}}   """,
            [.. F64(1.5, -2.25), .. F32(1, 2, 3, 4)]);

        var floats = SafeTensors.Load<float>(path);
        Assert.That(floats.Keys, Is.EqualTo(new[] { "b", "a" }));
        Assert.That(floats["a"].Shape, Is.EqualTo(new[] { 2, 2 }));
        Assert.That(floats["a"].ToArray(), Is.EqualTo(new[] { 1f, 2, 3, 4 }));
        Assert.That(floats["b"].ToArray(), Is.EqualTo(new[] { 1.5f, -2.25f }), "F64 converts to float");
        Assert.That(SafeTensors.Load<double>(path)["a"].ToArray(), Is.EqualTo(new[] { 1.0, 2, 3, 4 }));
        Assert.That(SafeTensors.LoadMetadata(path), Is.EquivalentTo(new Dictionary<string, string> { ["format"] = "pt" }));
    }

    [Test]
    public void ScalarsAndEmptyTensors_Load()
    {
        var path = SpecFile("""{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]}}""", F32(7));
        var t = SafeTensors.Load<float>(path);
        Assert.That(t["s"].Item(), Is.EqualTo(7f));
        Assert.That(t["e"].Shape, Is.EqualTo(new[] { 0, 3 }));
    }

    [Test]
    public void OurFile_HasTheSpecifiedLayout()
    {
        var path = Path.Combine(_dir, "ours.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor<float>> { ["w"] = Tensor.FromArray(new[] { 1f, 2, 3, 4, 5, 6 }, [2, 3]).Transpose(0, 1) });
        var bytes = File.ReadAllBytes(path);
        var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.That((8 + n) % 8, Is.EqualTo(0), "header padded so the data is 8-byte aligned");
        Assert.That(Encoding.UTF8.GetString(bytes, 8, n).TrimEnd(), Is.EqualTo("""{"w":{"dtype":"F32","shape":[3,2],"data_offsets":[0,24]}}"""));
        Assert.That(bytes[(8 + n)..], Is.EqualTo(F32(1, 4, 2, 5, 3, 6)), "row-major little-endian data of the transposed view");
    }

    [Test]
    public void ModuleRoundTrip_FloatAndDouble_WithMetadata()
    {
        var path = Path.Combine(_dir, "model.safetensors");
        var source = new Sequential<double>(new Linear<double>(3, 4, generator: new Generator(1)), new ReLU<double>(), new Linear<double>(4, 2, generator: new Generator(2)));
        source.SaveSafeTensors(path, new Dictionary<string, string> { ["epochs"] = "3" });
        var target = new Sequential<double>(new Linear<double>(3, 4), new ReLU<double>(), new Linear<double>(4, 2));
        target.LoadSafeTensors(path);
        foreach (var ((name, a), (_, b)) in source.StateDict().Zip(target.StateDict()))
        {
            Assert.That(b.ToArray(), Is.EqualTo(a.ToArray()), name);
        }

        Assert.That(SafeTensors.LoadMetadata(path)["epochs"], Is.EqualTo("3"));
        var asFloat = new Sequential<float>(new Linear<float>(3, 4), new ReLU<float>(), new Linear<float>(4, 2));
        asFloat.LoadSafeTensors(path);
        Assert.That(asFloat.StateDict()["2.weight"].ToArray(), Is.EqualTo(source.StateDict()["2.weight"].ToArray().Select(v => (float)v)));
    }

    [Test]
    public void Save_ReplacesALongerFile()
    {
        var path = Path.Combine(_dir, "shrink.safetensors");
        File.WriteAllBytes(path, new byte[10_000]);
        SafeTensors.Save(path, new Dictionary<string, Tensor<float>> { ["x"] = Tensor.Ones<float>(2) });
        Assert.That(SafeTensors.Load<float>(path)["x"].ToArray(), Is.EqualTo(new[] { 1f, 1f }));
        Assert.That(new FileInfo(path).Length, Is.LessThan(100));
    }

    private static void AssertFails(string path, params string[] fragments)
    {
        var ex = Assert.Throws<InvalidDataException>(() => SafeTensors.Load<float>(path));
        Assert.That(ex!.Message, Does.Contain(path));
        foreach (var f in fragments)
        {
            Assert.That(ex.Message, Does.Contain(f));
        }
    }

    [Test]
    public void Truncated_Files_Fail()
    {
        var tiny = Path.Combine(_dir, "tiny.safetensors");
        File.WriteAllBytes(tiny, [1, 0, 0]);
        AssertFails(tiny, "truncated", "fewer than the 8-byte header length");
        AssertFails(SpecFile("{}", [], declaredLength: 64), "truncated", "header length is 64");
        AssertFails(SpecFile("""{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", F32(1, 2, 3)), "tensor 'a'", "run past the end of the 12-byte data buffer");
    }

    [Test]
    public void BadHeaders_Fail()
    {
        AssertFails(SpecFile("{}", [], declaredLength: 1UL << 40), "exceeds the limit");
        AssertFails(SpecFile("[1, 2]", []), "does not start with '{'");
        AssertFails(SpecFile("""{"a": {"dtype": "F32",""", []), "not valid JSON");
        AssertFails(SpecFile("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", F32(1, 2)), "'a' appears twice");
        AssertFails(SpecFile("""{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", F32(1)), "tensor 'a'", "non-negative");
        AssertFails(SpecFile("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}}""", F32(1)), "tensor 'a'", "data_offsets");
        AssertFails(SpecFile("""{"a":{"shape":[1],"data_offsets":[0,4]}}""", F32(1)), "tensor 'a'", "dtype");
        AssertFails(SpecFile("""{"__metadata__":{"n":1}}""", []), "__metadata__ value 'n' is not a string");
    }

    [Test]
    public void UnknownAndUnsupportedDtypes_Fail()
    {
        AssertFails(SpecFile("""{"w":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}""", F32(1)), "tensor 'w'", "unknown dtype 'Q7'");
        AssertFails(SpecFile("""{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}""", F32(1)), "tensor 'w'", "BF16 is not supported");
    }

    [Test]
    public void OffsetsThatOverlap_LeaveHoles_OrDisagreeWithTheShape_Fail()
    {
        AssertFails(
            SpecFile("""{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}""", F32(1, 2, 3, 4, 5, 6)),
            "tensor 'b'", "overlap tensor 'a' [0, 16]");
        AssertFails(SpecFile("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", F32(1, 2, 3)), "tensor 'a'", "hole");
        AssertFails(SpecFile("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", F32(1, 2)), "trailing bytes");
        AssertFails(SpecFile("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}""", F32(1, 2, 3, 4)), "tensor 'a'", "needs 12 bytes but data_offsets [0, 16] hold 16");
    }

    [Test]
    public void ShapeMismatch_OnModuleLoad_NamesFileAndTensor_AndLeavesTheModuleUnchanged()
    {
        var path = Path.Combine(_dir, "small.safetensors");
        new Linear<float>(3, 2).SaveSafeTensors(path);
        var bigger = new Linear<float>(4, 2);
        var before = bigger.Weight.ToArray();
        var ex = Assert.Throws<StateDictException>(() => bigger.LoadSafeTensors(path));
        Assert.That(ex!.Message, Does.Contain(path).And.Contain("size mismatch for weight").And.Contain("[2, 3]").And.Contain("[2, 4]"));
        Assert.That(bigger.Weight.ToArray(), Is.EqualTo(before));
    }
}
