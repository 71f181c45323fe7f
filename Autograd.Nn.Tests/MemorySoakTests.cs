using System.Diagnostics;
using Autograd.Data;
using Autograd.Example;
using Autograd.Optim;

namespace Autograd.Nn.Tests;

/// <summary>
/// Memory soak (issue 9): LeNet-5 trained step after step on the shipped Fashion-MNIST sample (batch 64,
/// SGD momentum 0.9, the example's recipe) keeps the managed heap and the working set flat. The heap
/// is measured after a full collection (with the finalizers that hand pooled buffers back), so what it
/// shows is what the training loop keeps alive: a graph, a saved tensor or a pool buffer leaked per step
/// would grow it by the step's turnover (megabytes) every step. The short run is in the suite; the
/// 10,000-step run is opt-in (AUTOGRAD_SOAK=1, a few minutes). Figures: docs/reliability.md, "Memory soak".
/// </summary>
[NonParallelizable] // Forces collections and reads process-wide memory figures.
public class MemorySoakTests
{
    /// <summary>
    /// Heap growth allowed from the highest sample of the first half of the run (after warm-up) to the highest
    /// of the second half. The pool fills its size classes during the first steps (and keeps what it has), so
    /// the heap reaches its level early; after that a leak of a kilobyte a step over 10,000 steps, or of one
    /// step's graph (megabytes), exceeds this.
    /// </summary>
    private const long HeapBound = 2L << 20;

    /// <summary>Heap growth allowed from the first sample after warm-up to the highest (the pool still filling).</summary>
    private const long HeapFillBound = 16L << 20;

    /// <summary>
    /// Working-set growth allowed from the first sample after warm-up to the highest: the GC decommits and
    /// recommits gen-0 space as it tunes its budgets, so the working set swings by tens of megabytes
    /// without a leak (a leaked graph per step would add its turnover, ~9 MB, every step).
    /// </summary>
    private const long WorkingSetBound = 96L << 20;

    private static string SampleDir => Path.Combine(AppContext.BaseDirectory, "data");

    [Test]
    public void LeNet5_300Steps_HeapAndWorkingSetStayFlat() => Soak(steps: 300, warmUp: 100, samples: 8);

    [Test]
    public void LeNet5_10000Steps_HeapAndWorkingSetStayFlat()
    {
        if (Environment.GetEnvironmentVariable("AUTOGRAD_SOAK") != "1")
        {
            Assert.Ignore("opt-in: set AUTOGRAD_SOAK=1 (10,000 LeNet-5 steps, a few minutes)");
        }

        Soak(steps: 10_000, warmUp: 200, samples: 50);
    }

    private static void Soak(int steps, int warmUp, int samples)
    {
        var train = FashionMnist.Load<float>(SampleDir, train: true);
        var model = LeNet5.Create(new Generator(0));
        var optimizer = new SGD<float>(model.Parameters(), lr: 0.01, momentum: 0.9);
        var loader = new DataLoader<float>(train, 64, shuffle: true, seed: 1000);
        model.Train();

        var heap = new List<long>();
        var workingSet = new List<long>();
        var step = 0;
        var last = double.NaN;
        var clock = Stopwatch.StartNew();
        var every = (steps - warmUp) / samples;
        while (step < steps)
        {
            foreach (var (x, y) in loader)
            {
                optimizer.ZeroGrad();
                var loss = model.Forward(x).CrossEntropy(y);
                loss.Backward();
                optimizer.Step();
                last = loss.Item();
                step++;
                if (step >= warmUp && (step - warmUp) % every == 0)
                {
                    (var h, var ws) = Measure();
                    heap.Add(h);
                    workingSet.Add(ws);
                }

                if (step == steps)
                {
                    break;
                }
            }
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var half = heap.Count / 2;
        var heapFill = heap.Max() - heap[0];
        var heapGrowth = heap.Skip(half).Max() - heap.Take(half).Max();
        var wsGrowth = workingSet.Max() - workingSet[0];
        TestContext.Out.WriteLine(
            $"{steps} steps in {seconds:F1} s; heap after warm-up {Mb(heap[0])}, highest {Mb(heap.Max())}, last {Mb(heap[^1])} (from the first half's highest to the second half's: {Mb(heapGrowth)}); "
            + $"working set {Mb(workingSet[0])}, highest {Mb(workingSet.Max())}, last {Mb(workingSet[^1])} (growth {Mb(wsGrowth)}); "
            + $"{heap.Count} samples; last loss {last:F4}");
        TestContext.Out.WriteLine("heap MB: " + string.Join(" ", heap.Select(h => (h / 1048576.0).ToString("F1"))));
        TestContext.Out.WriteLine("working set MB: " + string.Join(" ", workingSet.Select(h => (h / 1048576.0).ToString("F1"))));
        Assert.Multiple(() =>
        {
            Assert.That(double.IsFinite(last), Is.True, "the loss stays finite");
            Assert.That(heapGrowth, Is.LessThanOrEqualTo(HeapBound), $"managed heap grew by {Mb(heapGrowth)} from the first half of {steps - warmUp} steps to the second");
            Assert.That(heapFill, Is.LessThanOrEqualTo(HeapFillBound), $"managed heap grew by {Mb(heapFill)} after warm-up");
            Assert.That(wsGrowth, Is.LessThanOrEqualTo(WorkingSetBound), $"working set grew by {Mb(wsGrowth)} over {steps - warmUp} steps");
        });
    }

    /// <summary>Managed heap after a full collection and the finalizers (pooled buffers back in the pool), and the working set.</summary>
    private static (long Heap, long WorkingSet) Measure()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var heap = GC.GetTotalMemory(forceFullCollection: true);
        using var self = Process.GetCurrentProcess();
        return (heap, self.WorkingSet64);
    }

    private static string Mb(long bytes) => $"{bytes / 1048576.0:F1} MB";
}
