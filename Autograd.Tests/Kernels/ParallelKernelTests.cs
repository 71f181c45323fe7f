using Autograd;

namespace Autograd.Tests.Kernels;

/// <summary>
/// The kernels that split large tensors over threads (elementwise ops, full sums, relu's backward,
/// max-pooling) give the single-threaded results: bit for bit where the arithmetic per element is the
/// same, to rounding for the sum, whose partial sums are added in a different order.
/// </summary>
[NonParallelizable] // Changes the process-wide thread limit.
public class ParallelKernelTests
{
    private const int Large = 1 << 19;   // above Elementwise.ParallelThreshold

    private static T OnThreads<T>(int threads, Func<T> f)
    {
        var previous = Tensor.NumThreads;
        Tensor.SetNumThreads(threads);
        try
        {
            return f();
        }
        finally
        {
            Tensor.SetNumThreads(previous);
        }
    }

    [Test]
    public void Claim_RunsEveryIndexOnce_WithALocalPerParticipant_AndRethrowsTheFirstError()
    {
        var runs = new int[200];
        var locals = 0;
        var finished = 0;
        Autograd.Kernels.Threads.Claim(
            runs.Length,
            4,
            () => { Interlocked.Increment(ref locals); return new List<int>(); },
            (i, seen) => { Interlocked.Increment(ref runs[i]); seen.Add(i); },
            _ => Interlocked.Increment(ref finished));
        Assert.That(runs, Is.All.EqualTo(1));
        Assert.That(locals, Is.InRange(1, 4));

        // Every participant that made a local finished it (a pool thread may still be finishing: wait briefly).
        SpinWait.SpinUntil(() => Volatile.Read(ref finished) == Volatile.Read(ref locals), 1000);
        Assert.That(finished, Is.EqualTo(locals));

        var error = Assert.Throws<InvalidOperationException>(() => Autograd.Kernels.Threads.Claim(
            50, 2, () => 0, (i, _) => { if (i == 17) { throw new InvalidOperationException("index 17"); } }, _ => { }));
        Assert.That(error!.Message, Is.EqualTo("index 17"));
    }

    [Test]
    public void ElementwiseOps_OnTwoThreads_MatchOneThread()
    {
        var g = new Generator(7);
        var a = Tensor.Randn<float>([Large], g);
        var b = Tensor.Randn<float>([Large], g);
        float[] Run() => [.. (a * b).ToArray(), .. (a + 2f).ToArray(), .. (3f - a).ToArray(), .. a.Exp().ToArray(), .. a.Relu().ToArray()];
        Assert.That(OnThreads(2, Run), Is.EqualTo(OnThreads(1, Run)));
    }

    /// <summary>
    /// Ops that compute a function per element go parallel at a fraction of a copy's size (the threshold is
    /// on n·cost): at ParallelThreshold / Transcendental elements exp is cut in two, an add is not, and the
    /// cut pass gives one thread's bits.
    /// </summary>
    [Test]
    public void CostlyOps_SplitBelowTheCopyThreshold_AndMatchOneThread()
    {
        const int n = Autograd.Kernels.Elementwise.ParallelThreshold / Autograd.Kernels.Elementwise.Cost.Transcendental;
        Assert.That(OnThreads(2, () => Autograd.Kernels.Elementwise.Chunks(n, Autograd.Kernels.Elementwise.Cost.Transcendental)), Is.EqualTo(2));
        Assert.That(OnThreads(2, () => Autograd.Kernels.Elementwise.Chunks(n - 1, Autograd.Kernels.Elementwise.Cost.Transcendental)), Is.EqualTo(1));
        Assert.That(OnThreads(2, () => Autograd.Kernels.Elementwise.Chunks(n, Autograd.Kernels.Elementwise.Cost.Copy)), Is.EqualTo(1));
        Assert.That(OnThreads(1, () => Autograd.Kernels.Elementwise.Chunks(n, Autograd.Kernels.Elementwise.Cost.Transcendental)), Is.EqualTo(1));

        var a = Tensor.Randn<float>([n + 3], new Generator(12));

        // Each op at this size goes parallel by its own cost: exp and the costlier ones do, an add does not.
        long Passes(Func<Tensor<float>> f) => OnThreads(2, () =>
        {
            var before = Autograd.Kernels.Elementwise.ParallelPasses;
            _ = f();
            return Autograd.Kernels.Elementwise.ParallelPasses - before;
        });
        Assert.Multiple(() =>
        {
            Assert.That(Passes(() => a + a), Is.Zero, "Add");
            Assert.That(Passes(() => a.Relu()), Is.Zero, "Relu");
            Assert.That(Passes(() => a.Exp()), Is.EqualTo(1), "Exp");
            Assert.That(Passes(() => a.Log()), Is.EqualTo(1), "Log");
            Assert.That(Passes(() => a.Tanh()), Is.EqualTo(1), "Tanh");
            Assert.That(Passes(() => a.Sigmoid()), Is.EqualTo(1), "Sigmoid");
            Assert.That(Passes(() => a.Erf()), Is.EqualTo(1), "Erf");
            Assert.That(Passes(() => a.Softplus()), Is.EqualTo(1), "Softplus");
            Assert.That(Passes(() => a.Pow(1.5)), Is.EqualTo(1), "Pow");
            Assert.That(Passes(() => a.Gelu()), Is.EqualTo(1), "Gelu");
            Assert.That(Passes(() => a.Gelu("tanh")), Is.EqualTo(1), "Gelu tanh");
            Assert.That(Passes(() => a.LogSoftmax(0)), Is.Zero, "LogSoftmax of one row");
        });

        float[] Run() => [.. a.Exp().ToArray(), .. a.Tanh().ToArray(), .. a.Sigmoid().ToArray(), .. a.Log().ToArray(), .. a.Erf().ToArray(), .. a.Softplus().ToArray(), .. a.Pow(1.5).ToArray(), .. a.Gelu().ToArray(), .. a.Gelu("tanh").ToArray()];
        Assert.That(OnThreads(2, Run), Is.EqualTo(OnThreads(1, Run)));
    }

    /// <summary>
    /// LogSoftmax (and Softmax, CrossEntropy on top of it) cuts its rows over threads from a fourteenth of the
    /// copy threshold: the rows give one thread's bits, and each is log softmax to rounding, for rows of
    /// the GPT's 65 classes and rows longer than the kernel's stack scratch.
    /// </summary>
    [TestCase(65)]
    [TestCase(1500)]
    public void LogSoftmax_RowsOnTwoThreads_MatchOneThread(int classes)
    {
        var rows = (Autograd.Kernels.Elementwise.ParallelThreshold / Autograd.Kernels.Elementwise.Cost.SoftmaxRow / classes) + 1;
        var x = Tensor.Randn<float>([rows, classes], new Generator(13)) * 4f;
        float[] Run() => [.. x.LogSoftmax(1).ToArray(), .. x.Softmax(1).ToArray()];
        var before = Autograd.Kernels.Elementwise.ParallelPasses;
        var two = OnThreads(2, Run);
        Assert.That(Autograd.Kernels.Elementwise.ParallelPasses - before, Is.GreaterThanOrEqualTo(2), "LogSoftmax and Softmax's rows were cut over threads");
        Assert.That(two, Is.EqualTo(OnThreads(1, Run)));

        var values = x.ToArray();
        for (var r = 0; r < rows; r += 97)
        {
            var row = values.AsSpan(r * classes, classes).ToArray().Select(v => (double)v).ToArray();
            var max = row.Max();
            var logSum = Math.Log(row.Sum(v => Math.Exp(v - max))) + max;
            for (var c = 0; c < classes; c++)
            {
                Assert.That(two[(r * classes) + c], Is.EqualTo(row[c] - logSum).Within(1e-5), $"row {r}, class {c}");
            }
        }
    }

    [Test]
    public void FullSum_OnTwoThreads_MatchesTheExactSum()
    {
        var x = Tensor.Randn<double>([Large + 3], new Generator(8));
        var exact = x.ToArray().Sum();
        Assert.That(OnThreads(2, () => x.Sum().Item()), Is.EqualTo(exact).Within(1e-9));
        Assert.That(OnThreads(1, () => x.Sum().Item()), Is.EqualTo(exact).Within(1e-9));
    }

    [Test]
    public void ReluBackward_OfASum_OnTwoThreads_IsTheMask()
    {
        var x = Tensor.Randn<float>([Large + 5], new Generator(9), requiresGrad: true);
        float[] Run()
        {
            x.Grad = null;
            (x.Relu().Sum() * 3f).Backward();   // the gradient reaching Relu is a broadcast scalar 3
            return x.Grad!.ToArray();
        }

        var expected = x.ToArray().Select(v => v > 0 ? 3f : 0f).ToArray();
        Assert.That(OnThreads(2, Run), Is.EqualTo(expected));
        Assert.That(OnThreads(1, Run), Is.EqualTo(expected));
    }

    [Test]
    public void MaxPool_ForwardAndBackward_OnTwoThreads_MatchOneThread()
    {
        var x = Tensor.Randn<float>([16, 32, 28, 28], new Generator(10), requiresGrad: true);
        var weights = Tensor.Randn<float>([16, 32, 14, 14], new Generator(11));
        float[] Run()
        {
            x.Grad = null;
            var y = x.MaxPool2d(3, 2, 1);
            (y * weights).Sum().Backward();
            return [.. y.ToArray(), .. x.Grad!.ToArray()];
        }

        Assert.That(OnThreads(2, Run), Is.EqualTo(OnThreads(1, Run)));
    }
}
