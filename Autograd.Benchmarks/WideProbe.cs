using System.Diagnostics;
using Autograd.Kernels;

namespace Autograd.Benchmarks;

/// <summary>
/// `wideprobe [conv1]`: WideConv's three per-image kernels alone on LeNet's conv2 (or conv1) shapes, one
/// thread, 25 rounds of 20 passes over the 64 images (the first rounds run before the JIT's tier-up; read
/// the last). A planning tool for the conv kernels; `layers` and `workloads` are the figures to report.
/// </summary>
internal static class WideProbe
{
    public static int Run(string[] args)
    {
        var conv1 = args.Contains("conv1");
        var g = conv1
            ? new Conv2dOp.Geometry(64, 1, 28, 28, 6, 1, 5, 5, new Size2(1, 1), new Size2(1, 1), 2, 2, 2, 2, 28, 28)
            : new Conv2dOp.Geometry(64, 6, 14, 14, 16, 1, 5, 5, new Size2(1, 1), new Size2(1, 1), 0, 0, 0, 0, 10, 10);
        var gen = new Generator(1);
        var x = Tensor.Randn<float>([64, g.C, g.H, g.W], gen);
        var w = Tensor.Randn<float>([g.F, g.C, 5, 5], gen).ToArray();
        var dy = Tensor.Randn<float>([64, g.F, g.OH, g.OW], gen).ToArray();
        var y = new float[64 * g.F * g.OH * g.OW];
        var dw = new float[g.F * g.K];
        var dx = new float[64 * g.C * g.H * g.W];
        var scratch = new float[WideConv.ScratchLength<float>(g) + 1000];
        for (var rep = 0; rep < 25; rep++)
        {
            var sw = Stopwatch.StartNew();
            for (var it = 0; it < 20; it++) for (var n = 0; n < 64; n++) WideConv.Forward(x, w, 0, null, y, g, n, scratch);
            var f = sw.Elapsed.TotalMilliseconds / 20; sw.Restart();
            for (var it = 0; it < 20; it++) for (var n = 0; n < 64; n += 4) WideConv.WeightGradient(x, dy, 0, dw, g, n, 4, scratch);
            var wg = sw.Elapsed.TotalMilliseconds / 20; sw.Restart();
            for (var it = 0; it < 20; it++) for (var n = 0; n < 64; n++) WideConv.InputGradient(w, 0, dy, 0, dx, g, n, scratch);
            var xg = sw.Elapsed.TotalMilliseconds / 20;
            Console.WriteLine($"fwd {f:F3} ms  dW {wg:F3} ms  dX {xg:F3} ms (64 images, 1 thread)");
        }
        return 0;
    }
}
