using System.Buffers.Binary;
using System.IO.Compression;
using Autograd.Data;

namespace Autograd.Nn.Tests;

public class DataTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("autograd-idx-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static byte[] IdxBytes(byte type, int[] dims, byte[] data)
    {
        var bytes = new byte[4 + 4 * dims.Length + data.Length];
        bytes[2] = type;
        bytes[3] = (byte)dims.Length;
        for (var i = 0; i < dims.Length; i++)
        {
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        }

        data.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    private string Write(string name, byte[] bytes, bool gzip = false)
    {
        var path = Path.Combine(_dir, name);
        if (gzip)
        {
            using var file = File.Create(path);
            using var z = new GZipStream(file, CompressionLevel.Fastest);
            z.Write(bytes);
        }
        else
        {
            File.WriteAllBytes(path, bytes);
        }

        return path;
    }

    [Test]
    public void Idx_ReadsPlainAndGzip()
    {
        var bytes = IdxBytes(0x08, [2, 2, 3], [.. Enumerable.Range(0, 12).Select(i => (byte)i)]);
        foreach (var gzip in new[] { false, true })
        {
            var a = Idx.Read(Write($"x{gzip}", bytes, gzip));
            Assert.That(a.Shape, Is.EqualTo(new[] { 2, 2, 3 }));
            Assert.That(a.Data, Is.EqualTo(Enumerable.Range(0, 12).Select(i => (byte)i)));
        }
    }

    [Test]
    public void Idx_Errors_NameTheFileAndTheProblem()
    {
        void Fails(string name, byte[] bytes, string fragment, bool gzip = false)
        {
            var path = Write(name, bytes, gzip);
            var ex = Assert.Throws<InvalidDataException>(() => Idx.Read(path));
            Assert.That(ex!.Message, Does.Contain(path).And.Contain(fragment));
        }

        var good = IdxBytes(0x08, [3, 2], [1, 2, 3, 4, 5, 6]);
        Fails("short", [0, 0], "fewer than the 4-byte magic number");
        Fails("magic", [1, 2, 8, 1, 0, 0, 0, 0], "bad magic number 0x01020801");
        Fails("float", IdxBytes(0x0D, [1], [0, 0, 0, 0]), "0x0D (float32) is not supported");
        Fails("header", good[..8], "fewer than the 12-byte header of 2 dimensions");
        Fails("truncated", good[..^1], "the file is truncated: dimensions [3, 2] need 6 bytes of data but 5 follow");
        Fails("trailing", [.. good, 9], "trailing bytes");
        Fails("truncated.gz", good[..^2], "truncated", gzip: true);
        var gz = File.ReadAllBytes(Write("ok.gz", good, gzip: true));
        Fails("corrupt.gz", [.. gz[..12], .. gz[12..].Select(b => (byte)~b)], "gzip");
    }

    private static TensorDataset<float> Numbered(int n) =>
        new(Tensor.FromArray(Enumerable.Range(0, n).Select(i => (float)i).ToArray(), [n, 1]), [.. Enumerable.Range(0, n).Select(i => i % 10)]);

    [Test]
    public void Permutation_IsTheRecipesSplitMix64FisherYates()
    {
        // Values from an independent Python implementation of WORKLOADS.md §7's algorithm.
        Assert.That(DataLoader<float>.Permutation(10, 1000), Is.EqualTo(new[] { 4, 3, 2, 0, 9, 8, 5, 1, 7, 6 }));
        Assert.That(DataLoader<float>.Permutation(60000, 1000)[..8], Is.EqualTo(new[] { 15303, 39276, 18287, 11243, 36915, 6661, 43840, 9769 }));
        Assert.That(DataLoader<float>.Permutation(60000, 1002)[^5..], Is.EqualTo(new[] { 46496, 4165, 428, 30775, 24285 }));
    }

    [Test]
    public void Loader_Gives938BatchesOf60000_TheLastOf32_EachSampleOncePerEpoch()
    {
        var loader = new DataLoader<float>(Numbered(60000), 64, shuffle: true, seed: 1000);
        Assert.That(loader.Count, Is.EqualTo(938));
        var seen = new List<int>();
        var sizes = new List<int>();
        foreach (var batch in loader)
        {
            sizes.Add(batch.Count);
            Assert.That(batch.X.Shape, Is.EqualTo(new[] { batch.Count, 1 }));
            seen.AddRange(batch.X.ToArray().Select(v => (int)v));
            for (var i = 0; i < batch.Count; i++)
            {
                Assert.That(batch.Y[i], Is.EqualTo((int)batch.X[i, 0] % 10), "label travels with its sample");
            }
        }

        Assert.That(sizes.Count, Is.EqualTo(938));
        Assert.That(sizes[^1], Is.EqualTo(32));
        Assert.That(seen[..8], Is.EqualTo(DataLoader<float>.Permutation(60000, 1000)[..8]), "epoch 0 uses state seed + 0");
        Assert.That(seen.Order(), Is.EqualTo(Enumerable.Range(0, 60000)));
        var second = loader.First().X.ToArray().Select(v => (int)v);
        Assert.That(second, Is.EqualTo(DataLoader<float>.Permutation(60000, 1001)[..64]), "epoch 1 uses state seed + 1");
    }

    private sealed class EveryOther(int length) : Sampler
    {
        public List<int> Epochs { get; } = [];

        public override int Count => (length + 1) / 2;

        public override void SetEpoch(int epoch)
        {
            base.SetEpoch(epoch);
            Epochs.Add(epoch);
        }

        public override IEnumerator<int> GetEnumerator()
        {
            // Even indices, shifted by the epoch so each epoch is told apart.
            for (var i = 0; i < Count; i++)
            {
                yield return (2 * i + 2 * Epoch) % (2 * Count);
            }
        }
    }

    [Test]
    public void Loader_WithASampler_VisitsItsIndices_AndTellsItTheEpoch()
    {
        var sampler = new EveryOther(10);
        var loader = new DataLoader<float>(Numbered(10), 2, sampler: sampler);
        Assert.That(loader.Count, Is.EqualTo(3));
        Assert.That(loader.SelectMany(b => b.X.ToArray()).ToArray(), Is.EqualTo(new[] { 0f, 2, 4, 6, 8 }));
        Assert.That(loader.SelectMany(b => b.Y).ToArray(), Is.EqualTo(new[] { 2, 4, 6, 8, 0 }), "epoch 1 starts at index 2; labels travel along");
        loader.Epoch = 7;
        _ = loader.First();
        Assert.That(sampler.Epochs, Is.EqualTo(new[] { 0, 1, 7 }));
        Assert.That(new DataLoader<float>(Numbered(10), 2, dropLast: true, sampler: sampler).Count, Is.EqualTo(2));
    }

    [Test]
    public void RandomSampler_GivesTheLoadersShuffle_AndSequentialSamplerTheIdentity()
    {
        var shuffled = new DataLoader<float>(Numbered(100), 7, shuffle: true, seed: 5);
        var sampled = new DataLoader<float>(Numbered(100), 7, sampler: new RandomSampler(100, seed: 5));
        for (var epoch = 0; epoch < 3; epoch++)
        {
            Assert.That(sampled.SelectMany(b => b.Y).ToArray(), Is.EqualTo(shuffled.SelectMany(b => b.Y).ToArray()), $"epoch {epoch}");
        }

        Assert.That(new SequentialSampler(4).ToArray(), Is.EqualTo(new[] { 0, 1, 2, 3 }));
    }

    private sealed class Lying(int count, int[] indices) : Sampler
    {
        public override int Count => count;

        public override IEnumerator<int> GetEnumerator() => ((IEnumerable<int>)indices).GetEnumerator();
    }

    [Test]
    public void Loader_WithASampler_RejectsShuffle_AndIndicesOutOfRange()
    {
        var e = Assert.Throws<ArgumentException>(() => _ = new DataLoader<float>(Numbered(4), 2, shuffle: true, sampler: new SequentialSampler(4)))!;
        Assert.That(e.Message, Does.Contain("DataLoader").And.Contain("shuffle"));
        var range = Assert.Throws<InvalidOperationException>(() => _ = new DataLoader<float>(Numbered(4), 2, sampler: new Lying(2, [1, 4])).First())!;
        Assert.That(range.Message, Does.Contain("index 4").And.Contain("4 samples"));
        var count = Assert.Throws<InvalidOperationException>(() => _ = new DataLoader<float>(Numbered(4), 2, sampler: new Lying(3, [1, 2])).First())!;
        Assert.That(count.Message, Does.Contain("Count 3").And.Contain("2 indices"));
        Assert.Throws<ArgumentException>(() => _ = new RandomSampler(-1));
    }

    [Test]
    public void Loader_DropLast_AndSequentialOrder()
    {
        var loader = new DataLoader<float>(Numbered(10), 4, dropLast: true);
        Assert.That(loader.Count, Is.EqualTo(2));
        Assert.That(loader.Select(b => b.X.ToArray()).ToList(), Is.EqualTo(new[] { new[] { 0f, 1, 2, 3 }, [4f, 5, 6, 7] }));
        Assert.That(new DataLoader<float>(Numbered(10), 4).Select(b => b.Count), Is.EqualTo(new[] { 4, 4, 2 }));
    }

    [Test]
    public void Loader_ReusesItsBuffer_AndBumpsItsVersion_UnlessAskedNotTo()
    {
        var reused = new DataLoader<float>(Numbered(12), 4).ToList();
        Assert.That(reused[0].X.Storage, Is.SameAs(reused[1].X.Storage), "one buffer for every batch");
        using (var e = new DataLoader<float>(Numbered(12), 4).GetEnumerator())
        {
            e.MoveNext();
            var storage = e.Current.X.Storage;
            var version = storage.Version;
            e.MoveNext();
            Assert.That(storage.Version, Is.GreaterThan(version), "overwriting a batch is an in-place write");
        }

        var fresh = new DataLoader<float>(Numbered(12), 4, reuseBuffers: false).ToList();
        Assert.That(fresh[0].X.Storage, Is.Not.SameAs(fresh[1].X.Storage));
        Assert.That(fresh[0].X.ToArray(), Is.EqualTo(new[] { 0f, 1, 2, 3 }));
    }

    [Test]
    public void BackwardThroughAStaleReusedBatch_Throws_InsteadOfUsingTheNextBatch()
    {
        var data = new TensorDataset<float>(Tensor.Randn<float>([8, 3], new Generator(1)), [0, 1, 0, 1, 0, 1, 0, 1]);
        var layer = new Autograd.Nn.Linear<float>(3, 2);
        using var batches = new DataLoader<float>(data, 4).GetEnumerator();
        batches.MoveNext();
        var loss = layer.Forward(batches.Current.X).CrossEntropy(batches.Current.Y);
        batches.MoveNext();
        Assert.Throws<SavedTensorModifiedException>(() => loss.Backward());
    }

    [Test]
    public void FromIdx_Normalises_AndAddsTheChannelDimension()
    {
        var images = new IdxArray([2, 1, 2], [0, 255, 51, 102]);
        var labels = new IdxArray([2], [3, 7]);
        var ds = TensorDataset<float>.FromIdx(images, labels, FashionMnist.Mean, FashionMnist.Std);
        Assert.That(ds.Features.Shape, Is.EqualTo(new[] { 2, 1, 1, 2 }));
        Assert.That(ds.Features.ToArray(), Is.EqualTo(new[]
        {
            (float)((0 - 0.2860) / 0.3530), (float)((1 - 0.2860) / 0.3530), (float)((0.2 - 0.2860) / 0.3530), (float)((0.4 - 0.2860) / 0.3530),
        }).Within(1e-6));
        Assert.That(ds.Labels.ToArray(), Is.EqualTo(new[] { 3, 7 }));
        Assert.Throws<ArgumentException>(() => TensorDataset<float>.FromIdx(images, new IdxArray([3], [1, 2, 3])));
    }

    [Test]
    public void FashionMnist_MissingFiles_SayWhichAndWhere()
    {
        Assert.That(FashionMnist.Exists(_dir), Is.False);
        var ex = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load<float>(_dir, train: true));
        Assert.That(ex!.Message, Does.Contain("train-images-idx3-ubyte").And.Contain(_dir));
    }
}
