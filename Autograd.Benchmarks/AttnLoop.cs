using System.Diagnostics;

namespace Autograd.Benchmarks;

/// <summary>
/// `attnloop [threads] [calls] [fwd|fwdbwd] [b h t d]`: causal <c>ScaledDotProductAttention</c> alone at one
/// thread count (the GPT's [12, 4, 64, 32] by default), settled with <see cref="Tensor.Warmup"/> and then
/// timed over <c>calls</c> calls, printing the median. A profiling target (`perf record` sees only this);
/// `workloads --only attention_` is the figure to report.
/// </summary>
internal static class AttnLoop
{
    public static int Run(string[] args)
    {
        var threads = args.Length > 0 ? int.Parse(args[0]) : 1;
        var calls = args.Length > 1 ? int.Parse(args[1]) : 2000;
        var backward = args.Length > 2 && args[2] == "fwdbwd";
        int[] dims = args.Length > 6 ? [.. args[3..7].Select(int.Parse)] : [12, 4, 64, 32];
        Tensor.SetNumThreads(threads);
        var g = new Generator(6);
        var q = Tensor.Randn<float>(dims, g, requiresGrad: backward);
        var k = Tensor.Randn<float>(dims, g, requiresGrad: backward);
        var v = Tensor.Randn<float>(dims, g, requiresGrad: backward);
        Action call = backward
            ? () =>
            {
                q.Grad = k.Grad = v.Grad = null;
                Tensor.ScaledDotProductAttention(q, k, v, isCausal: true).Sum().Backward();
            }
            : () =>
            {
                using (Tensor.NoGrad())
                {
                    Tensor.ScaledDotProductAttention(q, k, v, isCausal: true);
                }
            };
        var settle = Tensor.Warmup(call, TimeSpan.FromSeconds(10));
        var times = new double[calls];
        for (var i = 0; i < calls; i++)
        {
            var a = Stopwatch.GetTimestamp();
            call();
            times[i] = Stopwatch.GetElapsedTime(a).TotalMilliseconds;
        }

        Array.Sort(times);
        Console.WriteLine($"attnloop {(backward ? "fwdbwd" : "fwd")} [{string.Join(", ", dims)}] t={threads}: median {times[calls / 2]:F4} ms, min {times[0]:F4} ms over {calls} calls (settled {settle.Settled} after {settle.Calls})");
        return 0;
    }
}
