using Autograd;
using Autograd.Kernels;

namespace Autograd.Tests.Reliability;

/// <summary>
/// Every parallel kernel path, run several times at two threads, gives the same bits in its outputs
/// and gradients; and (where it costs nothing) the same bits as at one thread. Each case is sized to
/// take the path it names (the thresholds are in Gemm.Workers, Conv2d.ForEachImage and MaxPool2d).
/// </summary>
[NonParallelizable] // Sets Gemm.ThreadsOverride.
public class DeterminismTests
{
    private const int Runs = 4;

    /// <summary>
    /// The case: a LeNet-shaped first convolution (per-image products too small for Gemm's
    /// threads, so images go to threads). Its weight gradient used to depend on which thread finished first.
    /// </summary>
    [Test]
    public void Conv2d_ImageParallelPath_IsBitIdenticalAcrossRunsAndThreadCounts() =>
        AssertDeterministic(
            [[64, 1, 28, 28], [6, 1, 5, 5], [6]],
            xs => xs[0].Conv2d(xs[1], xs[2], padding: 2),
            acrossThreadCounts: true);

    /// <summary>
    /// Per-image products large enough that Gemm splits each over two threads, images in turn (three
    /// image chunks do not share out evenly over two threads).
    /// </summary>
    [Test]
    public void Conv2d_GemmParallelPath_IsBitIdenticalAcrossRunsAndThreadCounts() =>
        AssertDeterministic(
            [[3, 16, 32, 32], [32, 16, 3, 3], [32]],
            xs => xs[0].Conv2d(xs[1], xs[2], padding: 1),
            acrossThreadCounts: true);

    [Test]
    public void MatMul_ParallelGemm_IsBitIdenticalAcrossRunsAndThreadCounts() =>
        AssertDeterministic(
            [[256, 256], [256, 192]],
            xs => xs[0].MatMul(xs[1]),
            acrossThreadCounts: true);

    /// <summary>48 products each too small to split (Gemm.Workers), together large enough to spread the batch over threads.</summary>
    [Test]
    public void MatMul_BatchSpreadOverThreads_IsBitIdenticalAcrossRunsAndThreadCounts() =>
        AssertDeterministic(
            [[48, 64, 64], [48, 64, 64]],
            xs => xs[0].MatMul(xs[1]),
            acrossThreadCounts: true);

    /// <summary>Each matrix of a batch spread over threads gets the bits of its own 2-D product (one thread).</summary>
    [Test]
    public void MatMul_BatchSpreadOverThreads_MatchesEachMatrixProduct()
    {
        var gen = new Generator(seed: 7);
        var a = Tensor.Randn<float>([6, 8, 64, 48], gen);
        var b = Tensor.Randn<float>([6, 8, 48, 64], gen).Transpose(-1, -2).Contiguous().Transpose(-1, -2);
        var previous = Gemm.ThreadsOverride;
        Gemm.ThreadsOverride = 2;
        try
        {
            var c = a.MatMul(b);
            for (var i = 0; i < 6; i++)
            {
                for (var j = 0; j < 8; j++)
                {
                    var expected = a.Select(0, i).Select(0, j).MatMul(b.Select(0, i).Select(0, j)).ToArray();
                    Assert.That(c.Select(0, i).Select(0, j).Contiguous().ToArray(), Is.EqualTo(expected), $"matrix [{i}, {j}]");
                }
            }
        }
        finally
        {
            Gemm.ThreadsOverride = previous;
        }
    }

    [Test]
    public void MaxPool2d_ParallelPlanes_IsBitIdenticalAcrossRunsAndThreadCounts() =>
        AssertDeterministic(
            [[8, 16, 64, 64]],
            xs => xs[0].MaxPool2d(3, stride: 2, padding: 1),
            acrossThreadCounts: true);

    /// <summary>A full sum above the elementwise threshold: partial sums over fixed blocks, whatever the thread count.</summary>
    [Test]
    public void Sum_ParallelBlocks_IsBitIdenticalAcrossRunsAndThreadCounts() =>
        AssertDeterministic(
            [[3 << 19]],
            xs => (xs[0] * xs[0]).Sum(),
            acrossThreadCounts: true);

    /// <summary>
    /// Runs f forward and backward (with a fixed non-uniform cotangent) <see cref="Runs"/> times at two
    /// threads and compares the output and every gradient bit for bit; then once at one thread.
    /// </summary>
    private static void AssertDeterministic(int[][] shapes, Func<Tensor<float>[], Tensor<float>> f, bool acrossThreadCounts)
    {
        var reference = Run(shapes, f, threads: 2);
        for (var run = 1; run < Runs; run++)
        {
            AssertSameBits(reference, Run(shapes, f, threads: 2), $"run {run} at 2 threads");
        }

        if (acrossThreadCounts)
        {
            AssertSameBits(reference, Run(shapes, f, threads: 1), "1 thread against 2 threads");
        }
    }

    private static float[][] Run(int[][] shapes, Func<Tensor<float>[], Tensor<float>> f, int threads)
    {
        var previous = Gemm.ThreadsOverride;
        Gemm.ThreadsOverride = threads;
        try
        {
            var gen = new Generator(seed: 42);
            var xs = shapes.Select(s => Tensor.Randn<float>(s, gen, requiresGrad: true)).ToArray();
            var y = f(xs);
            var cotangent = Tensor.Randn<float>(y.Shape, gen);
            y.Backward(cotangent);
            return [y.ToArray(), .. xs.Select(x => x.Grad!.ToArray())];
        }
        finally
        {
            Gemm.ThreadsOverride = previous;
        }
    }

    private static void AssertSameBits(float[][] expected, float[][] actual, string what)
    {
        for (var i = 0; i < expected.Length; i++)
        {
            var name = i == 0 ? "output" : $"gradient of input {i - 1}";
            var differing = 0;
            var first = -1;
            for (var j = 0; j < expected[i].Length; j++)
            {
                if (BitConverter.SingleToInt32Bits(expected[i][j]) != BitConverter.SingleToInt32Bits(actual[i][j]))
                {
                    differing++;
                    first = first < 0 ? j : first;
                }
            }

            Assert.That(
                differing,
                Is.Zero,
                () => $"{what}: {name} differs bit-wise in {differing} of {expected[i].Length} elements (first at {first}: {expected[i][first]:R} vs {actual[i][first]:R}).");
        }
    }
}
