using System.Diagnostics;

namespace Autograd.Benchmarks;

/// <summary>
/// `convparts [c1|c2|c3|c4|lenet1|lenet2 ...]`: the conv workloads of WORKLOADS.md §2 (and LeNet-5's two convolutions) split into their parts: forward
/// (under NoGrad), forward+backward with only the input requiring grad (dX), only the weight (dW), and all
/// three (the workload). Median ms of 20 calls after 10 warm-up calls of every part and Tensor.Warmup on it (with 10 warm-up calls alone the parts timed tier-0 code: LeNet conv1 forward read 0.79 ms against 0.20 settled). A planning tool for
/// the conv kernels; `workloads` is the figure to report.
/// </summary>
internal static class ConvParts
{
    private static readonly (string Id, int N, int C, int H, int F, int K, int Stride, int Pad)[] Shapes =
    [
        ("c1", 64, 1, 28, 6, 5, 1, 2),
        ("c2", 64, 32, 28, 64, 3, 1, 1),
        ("c3", 32, 64, 56, 64, 3, 1, 1),
        ("c4", 32, 64, 56, 128, 3, 2, 1),
        ("lenet1", 64, 1, 28, 6, 5, 1, 2),
        ("lenet2", 64, 6, 14, 16, 5, 1, 0),
    ];

    public static int Run(string[] args)
    {
        var chosen = Shapes.Where(s => args.Length == 0 || args.Contains(s.Id)).ToArray();
        Console.WriteLine($"conv parts, {Tensor.NumThreads} threads: median ms of 20 calls{(Tensor.NumThreads == 1 ? " (thread CPU time)" : "")}");
        foreach (var s in chosen)
        {
            var gen = new Generator(2);
            var x = Tensor.Randn<float>([s.N, s.C, s.H, s.H], gen);
            var w = Tensor.Randn<float>([s.F, s.C, s.K, s.K], gen);
            var b = Tensor.Randn<float>([s.F], gen);
            double Part(bool grad, bool gx, bool gw)
            {
                x.RequiresGrad = gx;
                w.RequiresGrad = gw;
                b.RequiresGrad = gw;
                void Call()
                {
                    x.Grad = null;
                    w.Grad = null;
                    b.Grad = null;
                    if (grad)
                    {
                        x.Conv2d(w, b, stride: s.Stride, padding: s.Pad).Sum().Backward();
                    }
                    else
                    {
                        using (Tensor.NoGrad())
                        {
                            x.Conv2d(w, b, stride: s.Stride, padding: s.Pad);
                        }
                    }
                }

                // Until the JIT has settled on the part (10 calls at least), then 20 timed calls.
                for (var i = 0; i < 10; i++)
                {
                    Call();
                }

                Tensor.Warmup(Call, TimeSpan.FromSeconds(10));
                var times = new List<double>();
                for (var i = 0; i < 20; i++)
                {
                    var sw = Stopwatch.StartNew();
                    var cpu = new WideProbe.ThreadClock();
                    Call();

                    // One thread: the thread's processor time, which leaves out time others held the core.
                    times.Add(Tensor.NumThreads == 1 ? cpu.Milliseconds : sw.Elapsed.TotalMilliseconds);
                }

                times.Sort();
                return times[times.Count / 2];
            }

            var f = Part(false, false, false);
            var dx = Part(true, true, false);
            var dw = Part(true, false, true);
            var all = Part(true, true, true);
            Console.WriteLine($"{s.Id}: fwd {f,7:F2}  fwd+dX {dx,7:F2}  fwd+dW {dw,7:F2}  fwd+both {all,7:F2}");
        }

        return 0;
    }
}

/// <summary>`packprobe [c4]`: c3's (or c4's) per-block pieces on one thread (thread CPU time): im2col, the forward product (and on filters packed once), the dW and dX products, col2im.</summary>
internal static class PackProbe
{
    public static int Run(string[] args)
    {
        var c4 = args.Contains("c4");
        var g = c4 ? new ConvGeometry(32, 64, 56, 56, 128, 1, 3, 3, new Size2(2, 2), new Size2(1, 1), 1, 1, 1, 1, 28, 28)
            : new ConvGeometry(32, 64, 56, 56, 64, 1, 3, 3, new Size2(1, 1), new Size2(1, 1), 1, 1, 1, 1, 56, 56);
        var gen = new Generator(1);
        var x = Tensor.Randn<float>([32, g.C, g.H, g.W], gen).ToArray();
        var w = Tensor.Randn<float>([g.F, g.C, g.KH, g.KW], gen).ToArray();
        var width = Kernels.ConvColumns.BlockWidth(g);
        var cols = new float[g.K * width];
        var y = new float[g.F * g.P];
        Kernels.Gemm.ThreadsOverride = 1;
        Console.WriteLine($"block width {width}, K {g.K}, P {g.P}");
        for (var rep = 0; rep < 8; rep++)
        {
            var clock = new WideProbe.ThreadClock();
            for (var n = 0; n < 32; n++)
            {
                for (var p0 = 0; p0 < g.P; p0 += width)
                {
                    Kernels.ConvColumns.Pack<float>(x, n * g.C * g.H * g.W, g.H * g.W, g.W, 1, g, p0, Math.Min(width, g.P - p0), cols);
                }
            }

            var pack = clock.Milliseconds;
            clock.Restart();
            for (var n = 0; n < 32; n++)
            {
                for (var p0 = 0; p0 < g.P; p0 += width)
                {
                    var count = Math.Min(width, g.P - p0);
                    Kernels.Gemm.Multiply<float>(g.F, count, g.K, w, 0, g.K, 1, cols, 0, count, 1, y, p0, g.P, accumulate: false);
                }
            }

            var gemm = clock.Milliseconds;
            clock.Restart();
            using (var packed = Kernels.Gemm.Pack<float>(g.F, g.K, w, 0, g.K, 1))
            {
                for (var n = 0; n < 32; n++)
                {
                    for (var p0 = 0; p0 < g.P; p0 += width)
                    {
                        var count = Math.Min(width, g.P - p0);
                        Kernels.Gemm.Multiply<float>(packed, count, cols, 0, count, 1, y, p0, g.P, accumulate: false);
                    }
                }
            }

            var prepacked = clock.Milliseconds;
            clock.Restart();
            var dw = new float[g.F * g.K];
            for (var n = 0; n < 32; n++)
            {
                for (var p0 = 0; p0 < g.P; p0 += width)
                {
                    var count = Math.Min(width, g.P - p0);
                    Kernels.Gemm.Multiply<float>(g.F, g.K, count, y, p0, g.P, 1, cols, 0, 1, count, dw, 0, g.K, accumulate: true);
                }
            }

            var weightGradient = clock.Milliseconds;
            clock.Restart();
            using (var packedT = Kernels.Gemm.Pack<float>(g.K, g.F, w, 0, 1, g.K))
            {
                for (var n = 0; n < 32; n++)
                {
                    for (var p0 = 0; p0 < g.P; p0 += width)
                    {
                        var count = Math.Min(width, g.P - p0);
                        Kernels.Gemm.Multiply<float>(packedT, count, y, p0, g.P, 1, cols, 0, count, accumulate: false);
                    }
                }
            }

            var inputGradient = clock.Milliseconds;
            clock.Restart();
            var dx = new float[g.C * g.H * g.W];
            for (var n = 0; n < 32; n++)
            {
                for (var p0 = 0; p0 < g.P; p0 += width)
                {
                    Kernels.ConvColumns.ScatterAdd<float>(dx, 0, g.H * g.W, g.W, 1, g, p0, Math.Min(width, g.P - p0), cols);
                }
            }

            var scatter = clock.Milliseconds;
            if (c4)
            {
                // The phase-plane path's im2col: one split per image, then one contiguous copy per tap row and block.
                var shape = new Kernels.PhasePlanes.Shape(g);
                var xt = Tensor.FromArray(x, [32, g.C, g.H, g.W]);
                var planes = new float[shape.Length];
                var offsets = new int[g.K];
                Kernels.PhasePlanes.Offsets(g, offsets);
                var phaseWidth = Kernels.ConvColumns.BlockWidth(g with { OW = shape.Wq });
                var phaseCols = new float[g.K * phaseWidth];
                clock.Restart();
                for (var n = 0; n < 32; n++)
                {
                    Kernels.PhasePlanes.Split(xt, g, n, 0, planes);
                }

                var split = clock.Milliseconds;
                clock.Restart();
                for (var n = 0; n < 32; n++)
                {
                    Kernels.PhasePlanes.Split(xt, g, 0, 0, planes);
                }

                var splitCached = clock.Milliseconds;
                clock.Restart();
                for (var n = 0; n < 32; n++)
                {
                    x.AsSpan(n * g.C * g.H * g.W, g.C * g.H * g.W).CopyTo(planes);
                }

                var copy = clock.Milliseconds;
                Console.WriteLine($"  split of one image 32 times {splitCached:F2} ms, plain copy of the 32 images {copy:F2} ms");
                clock.Restart();
                for (var n = 0; n < 32; n++)
                {
                    for (var j0 = 0; j0 < shape.Wide; j0 += phaseWidth)
                    {
                        var count = Math.Min(phaseWidth, shape.Wide - j0);
                        for (var r = 0; r < g.K; r++)
                        {
                            planes.AsSpan(offsets[r] + j0, count).CopyTo(phaseCols.AsSpan(r * count, count));
                        }
                    }
                }

                Console.WriteLine($"  phase planes: split {split:F2} ms  row copies {clock.Milliseconds:F2} ms (width {phaseWidth})");
            }

            Console.WriteLine($"  dW product {weightGradient:F2} ms  dX product {inputGradient:F2} ms  col2im {scatter:F2} ms");
            Console.WriteLine($"pack {pack:F2} ms  gemm {gemm:F2} ms ({2.0 * g.F * g.K * g.P * 32 / gemm / 1e6:F0} GFLOP/s)  gemm on packed W {prepacked:F2} ms (32 images, 1 thread CPU time)");
        }

        return 0;
    }
}

/// <summary>
/// `abprobe c2|c3|c4 [--backward|--dx|--dw] [--wide|--phase|--toggle-direct-b|--toggle-wide-forward]`: one conv workload with a path switch toggled call by call in one
/// process (Winograd, or with --wide WideConv, with --phase PhasePlanes, with --toggle-direct-b Gemm.ReadsBInPlace's rule, with --toggle-wide-forward the forward-only wide-row rule, on and off), so both sides see the same machine; medians of 30 calls each, thread CPU time
/// at one thread. A planning tool for choosing between kernels on a noisy machine.
/// </summary>
internal static class AbProbe
{
    public static int Run(string[] args)
    {
        var c4 = args.Contains("c4");
        var (n, c, h, f, stride) = args.Contains("c2") ? (64, 32, 28, 64, 1) : c4 ? (32, 64, 56, 128, 2) : (32, 64, 56, 64, 1);
        // --dx / --dw: the backward with only the input / only the weight requiring grad.
        var backward = args.Contains("--backward") || args.Contains("--dx") || args.Contains("--dw");
        var gen = new Generator(2);
        var x = Tensor.Randn<float>([n, c, h, h], gen, requiresGrad: backward && !args.Contains("--dw"));
        var w = Tensor.Randn<float>([f, c, 3, 3], gen, requiresGrad: backward && !args.Contains("--dx"));
        var b = Tensor.Randn<float>([f], gen, requiresGrad: backward && !args.Contains("--dx"));
        var times = new[] { new List<double>(), new List<double>() };
        for (var i = 0; i < 70; i++)
        {
            var side = i % 2;
            // `--wide`: the toggled path is WideConv instead (on the second side it is off).
            if (args.Contains("--wide"))
            {
                Kernels.WideConv.Disabled = side == 1;
            }
            else if (args.Contains("--toggle-wide-forward"))
            {
                Kernels.ConvPlan.WideForwardDisabled = side == 1;
            }
            else if (args.Contains("--toggle-direct-b"))
            {
                Kernels.Gemm.DirectBDisabled = side == 1;
            }
            else if (args.Contains("--phase"))
            {
                Kernels.PhasePlanes.Disabled = side == 1;
            }
            else
            {
                Kernels.Winograd.Disabled = side == 1;
            }
            x.Grad = null;
            w.Grad = null;
            b.Grad = null;
            var clock = new WideProbe.ThreadClock();
            var wall = Stopwatch.StartNew();
            if (backward)
            {
                x.Conv2d(w, b, stride: stride, padding: 1).Sum().Backward();
            }
            else
            {
                using (Tensor.NoGrad())
                {
                    x.Conv2d(w, b, stride: stride, padding: 1);
                }
            }

            if (i >= 10)
            {
                times[side].Add(Tensor.NumThreads == 1 ? clock.Milliseconds : wall.Elapsed.TotalMilliseconds);
            }
        }

        double Median(List<double> t) => t.Order().ElementAt(t.Count / 2);
        Console.WriteLine($"{(backward ? "fwd+bwd" : "fwd")}, {Tensor.NumThreads} threads: {(args.Contains("--wide") ? "wide rows" : args.Contains("--phase") ? "phase planes" : args.Contains("--toggle-direct-b") ? "direct B" : args.Contains("--toggle-wide-forward") ? "wide forward" : "Winograd")} {Median(times[0]):F2} ms, off {Median(times[1]):F2} ms (medians of 30, alternating)");
        return 0;
    }
}
