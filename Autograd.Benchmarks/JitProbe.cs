using System.Diagnostics;
using System.Runtime;

namespace Autograd.Benchmarks;

/// <summary>
/// What the JIT does during the short workloads (<c>jitprobe</c>): methods compiled, IL bytes and time spent
/// compiling (<see cref="JitInfo"/>, the whole process, tier-0, OSR and tier-1 alike) after each phase of
/// tape_10k's literal loop and the LeNet step, with each phase's wall time. Unlike the workloads' medians,
/// the counts hardly depend on the machine's load, so they show what ReadyToRun images save.
/// </summary>
internal static class JitProbe
{
    public static int Run(string[] args)
    {
        Console.WriteLine("phase                      ms   methods  IL_KB  jit_ms");
        var t0 = Stopwatch.GetTimestamp();
        Report("start", t0);

        // tape_10k literal: y = y·1.0001 + 0.0001, 10,000 ops, then Backward; the runner's 5 + 30 iterations.
        var x = Tensor.FromArray([1f], [1], requiresGrad: true);
        for (var it = 0; it < 35; it++)
        {
            x.Grad = null;
            var y = x;
            for (var i = 0; i < 5000; i++)
            {
                y = (y * 1.0001f) + 0.0001f;
            }

            y.Backward();
            if (it is 0 or 4 or 34)
            {
                Report($"tape iteration {it + 1}", t0);
            }
        }

        foreach (var threads in new[] { 2, 1 })
        {
            Tensor.SetNumThreads(threads);
            var model = new LeNet(new Generator(0));
            var g = new Generator(5);
            var xb = Tensor.Randn<float>([64, 1, 28, 28], g);
            var yb = Enumerable.Range(0, 64).Select(_ => g.NextInt(10)).ToArray();
            for (var step = 1; step <= 220; step++)
            {
                model.Step(xb, yb);
                if (step is 1 or 20 or 220)
                {
                    Report($"lenet {threads} thr step {step}", t0);
                }
            }
        }

        return 0;
    }

    private static void Report(string phase, long t0) =>
        Console.WriteLine(
            $"{phase,-22} {Stopwatch.GetElapsedTime(t0).TotalMilliseconds,8:F0} {JitInfo.GetCompiledMethodCount(),8} {JitInfo.GetCompiledILBytes() / 1024.0,6:F0} {JitInfo.GetCompilationTime().TotalMilliseconds,7:F0}");
}
