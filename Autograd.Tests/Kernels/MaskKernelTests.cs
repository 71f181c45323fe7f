using Autograd.Kernels;
using FsCheck;
using FsCheck.Fluent;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd.Tests.Kernels;

/// <summary>
/// ReLU's forward and backward kernels give the reference values bit for bit, with ordinary and with
/// streaming (non-temporal) stores, at every destination alignment and length: the streaming path's
/// scalar head (up to the first 32-byte boundary), its aligned vector body and its tail.
/// </summary>
public class MaskKernelTests
{
    /// <summary>Values with the cases that decide the mask: ±0, ±∞, NaN, tiny and negative numbers.</summary>
    private static float[] Values(int n, int seed)
    {
        var special = new[] { 0f, -0f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, -float.Epsilon, 1f, -1f };
        var random = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(i => random.Next(3) == 0 ? special[random.Next(special.Length)] : (float)((random.NextDouble() * 4) - 2))];
    }

    private static Gen<(int N, int Offset, int Seed, bool Stream, bool ScalarG)> Cases =>
        from n in Gen.Choose(0, 300)
        from offset in Gen.Choose(0, 15)
        from seed in Gen.Choose(0, 1000)
        from stream in Gen.Elements(true, false)
        from scalarG in Gen.Elements(true, false)
        select (n, offset, seed, stream, scalarG);

    [FsCheck.NUnit.Property(MaxTest = 300)]
    public Property Relu_IsMaxWithZero_BitForBit_StreamingOrNot() =>
        Prop.ForAll(Cases.ToArbitrary(), c =>
        {
            var x = Values(c.N, c.Seed);

            // The destination starts `Offset` elements into its array, so the 32-byte head varies.
            var buffer = new float[c.N + c.Offset];
            MaskKernel.Relu<float>(x, buffer.AsSpan(c.Offset, c.N), c.Stream);
            var expected = new float[c.N];
            TP.Max(x, 0f, expected);
            return Bits(buffer.AsSpan(c.Offset)).SequenceEqual(Bits(expected));
        });

    [FsCheck.NUnit.Property(MaxTest = 300)]
    public Property MaskPositive_KeepsGWhereYIsPositive_BitForBit_StreamingOrNot() =>
        Prop.ForAll(Cases.ToArbitrary(), c =>
        {
            var y = Values(c.N, c.Seed);
            var g = c.ScalarG ? [-3.5f] : Values(c.N, c.Seed + 1);
            var buffer = new double[c.N + c.Offset];
            MaskKernel.MaskPositive<double>([.. y.Select(v => (double)v)], [.. g.Select(v => (double)v)], buffer.AsSpan(c.Offset, c.N), c.Stream);
            var expected = y.Select((v, i) => v > 0 ? (double)g[c.ScalarG ? 0 : i] : 0.0);
            return buffer.Skip(c.Offset).Select(BitConverter.DoubleToInt64Bits).SequenceEqual(expected.Select(BitConverter.DoubleToInt64Bits));
        });

    [Test]
    public void StreamingThreshold_IsPerSpanBytes()
    {
        Assert.That(MaskKernel.Streams<float>(MaskKernel.StreamBytes / 4), Is.True);
        Assert.That(MaskKernel.Streams<float>((MaskKernel.StreamBytes / 4) - 1), Is.False);
        Assert.That(MaskKernel.Streams<double>(MaskKernel.StreamBytes / 8), Is.True);
    }

    private static IEnumerable<int> Bits(ReadOnlySpan<float> x) => x.ToArray().Select(BitConverter.SingleToInt32Bits);
}
