using System.Diagnostics;

namespace Autograd.Benchmarks;

/// <summary>
/// `layers`: each layer of the LeNet-5 step on its own, on the batch-64 shapes, forward (under NoGrad) and
/// forward+backward (`Sum().Backward()`, only the layer's own parameters and input requiring grad): the
/// median of 300 calls after 200 warm-up calls of every case, so that no case pays for the JIT. A planning
/// tool for where the step's time goes; the workload runner's `lenet_step` is the figure to report.
/// </summary>
internal static class LayerProfile
{
    public static int Run(string[] args)
    {
        var g = new Generator(5);
        Tensor<float> Leaf(params int[] shape)
        {
            var t = Tensor.Randn<float>(shape, g);
            t.RequiresGrad = true;
            return t;
        }

        var x = Tensor.Randn<float>([64, 1, 28, 28], g);
        var (c1w, c1b, c2w, c2b) = (Leaf(6, 1, 5, 5), Leaf(6), Leaf(16, 6, 5, 5), Leaf(16));
        var (f1w, f1b, f2w, f2b, f3w, f3b) = (Leaf(120, 400), Leaf(120), Leaf(84, 120), Leaf(84), Leaf(10, 84), Leaf(10));
        var (a1, p1, a2) = (Leaf(64, 6, 28, 28), Leaf(64, 6, 14, 14), Leaf(64, 16, 10, 10));
        var (h0, h1, h2, logits) = (Leaf(64, 400), Leaf(64, 120), Leaf(64, 84), Leaf(64, 10));
        var labels = Enumerable.Range(0, 64).Select(i => i % 10).ToArray();
        (string Name, Func<Tensor<float>> Op)[] cases =
        [
            ("conv1 [64,1,28,28] 5x5 pad 2", () => x.Conv2d(c1w, c1b, padding: 2)),
            ("relu1 [64,6,28,28]", () => a1.Relu()),
            ("maxpool1 [64,6,28,28] 2x2", () => a1.MaxPool2d(2)),
            ("conv2 [64,6,14,14] 5x5", () => p1.Conv2d(c2w, c2b)),
            ("relu2 [64,16,10,10]", () => a2.Relu()),
            ("maxpool2 [64,16,10,10] 2x2", () => a2.MaxPool2d(2)),
            ("fc1 [64,400]->120", () => h0.MatMul(f1w.Transpose(0, 1)) + f1b),
            ("fc2 [64,120]->84", () => h1.MatMul(f2w.Transpose(0, 1)) + f2b),
            ("fc3 [64,84]->10", () => h2.MatMul(f3w.Transpose(0, 1)) + f3b),
            ("cross-entropy [64,10]", () => logits.CrossEntropy(labels)),
        ];

        foreach (var (_, op) in cases)
        {
            for (var i = 0; i < 200; i++)
            {
                Time(op, backward: true);
                Time(op, backward: false);
            }
        }

        Console.WriteLine($"LeNet-5 layers, batch 64, {Tensor.NumThreads} threads: median ms of 300 calls");
        foreach (var (name, op) in cases)
        {
            Console.WriteLine($"{name,-30} fwd {Median(op, false),8:F3}   fwd+bwd {Median(op, true),8:F3}");
        }

        return 0;
    }

    private static double Median(Func<Tensor<float>> op, bool backward)
    {
        var times = Enumerable.Range(0, 300).Select(_ => Time(op, backward)).Order().ToArray();
        return times[times.Length / 2];
    }

    private static double Time(Func<Tensor<float>> op, bool backward)
    {
        var sw = Stopwatch.StartNew();
        if (backward)
        {
            var y = op();
            (y.Numel == 1 ? y : y.Sum()).Backward();
        }
        else
        {
            using (Tensor.NoGrad())
            {
                op();
            }
        }

        return sw.Elapsed.TotalMilliseconds;
    }
}
