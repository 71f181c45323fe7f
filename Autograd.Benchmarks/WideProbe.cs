using System.Diagnostics;
using Autograd.Kernels;

namespace Autograd.Benchmarks;

/// <summary>
/// `wideprobe [conv1|c2]`: WideConv's three per-image kernels alone on LeNet's conv2 (or conv1, or the c2 workload's) shapes, one
/// thread, 25 rounds of 20 passes over the 64 images (the first rounds run before the JIT's tier-up; read
/// the last). A planning tool for the conv kernels; `layers` and `workloads` are the figures to report.
/// </summary>
internal static class WideProbe
{
    public static int Run(string[] args)
    {
        var g = args.Contains("conv1") ? new ConvGeometry(64, 1, 28, 28, 6, 1, 5, 5, new Size2(1, 1), new Size2(1, 1), 2, 2, 2, 2, 28, 28)
            : args.Contains("c2") ? new ConvGeometry(64, 32, 28, 28, 64, 1, 3, 3, new Size2(1, 1), new Size2(1, 1), 1, 1, 1, 1, 28, 28)
            : new ConvGeometry(64, 6, 14, 14, 16, 1, 5, 5, new Size2(1, 1), new Size2(1, 1), 0, 0, 0, 0, 10, 10);
        var reps = args.Contains("c2") ? 1 : 20;
        var gen = new Generator(1);
        var x = Tensor.Randn<float>([64, g.C, g.H, g.W], gen);
        var w = Tensor.Randn<float>([g.F, g.C, g.KH, g.KW], gen).ToArray();
        var dy = Tensor.Randn<float>([64, g.F, g.OH, g.OW], gen).ToArray();
        var y = new float[64 * g.F * g.OH * g.OW];
        var dw = new float[g.F * g.K];
        var dx = new float[64 * g.C * g.H * g.W];
        var scratch = new float[WideConv.ScratchLength<float>(g) + 1000];
        for (var rep = 0; rep < 25; rep++)
        {
            // Processor time of this thread: on a shared machine it leaves out the time others held the core.
            var sw = new ThreadClock();
            for (var it = 0; it < reps; it++) for (var n = 0; n < 64; n++) WideConv.Forward(x, w, 0, null, y, g, n, scratch);
            var f = sw.Milliseconds / reps; sw.Restart();
            for (var it = 0; it < reps; it++) for (var n = 0; n < 64; n += 4) WideConv.WeightGradient(x, dy, 0, dw, g, n, 4, scratch);
            var wg = sw.Milliseconds / reps; sw.Restart();
            for (var it = 0; it < reps; it++) for (var n = 0; n < 64; n += 4) WideConv.InputGradient(w, 0, dy, 0, dx, g, n, 4, scratch);
            var xg = sw.Milliseconds / reps;
            Console.WriteLine($"fwd {f:F3} ms  dW {wg:F3} ms  dX {xg:F3} ms (64 images, 1 thread, thread CPU time)");
        }
        return 0;
    }

    /// <summary>The calling thread's processor time (clock_gettime of CLOCK_THREAD_CPUTIME_ID).</summary>
    internal sealed class ThreadClock
    {
        private double _start = Now();

        public double Milliseconds => Now() - _start;

        public void Restart() => _start = Now();

        private static double Now()
        {
            const int threadCpuTime = 3;
            _ = ClockGetTime(threadCpuTime, out var ts);
            return ts.Seconds * 1e3 + ts.Nanoseconds * 1e-6;
        }

        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
        private static extern int ClockGetTime(int clock, out TimeSpec time);

        private struct TimeSpec
        {
            public long Seconds;
            public long Nanoseconds;
        }
    }
}
