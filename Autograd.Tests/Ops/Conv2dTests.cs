using Autograd;
using Autograd.Kernels;
using Autograd.Testing;

namespace Autograd.Tests.Ops;

public class Conv2dTests
{
    /// <summary>
    /// Batch, groups, channels and filters per group, spatial size, kernel, stride, padding (explicit,
    /// "same" or "valid"), dilation, bias or not, unbatched [C, H, W] or not, and a view kind for each of
    /// input, weight and bias. Sizes stay tiny: GradCheck does one backward per output element.
    /// </summary>
    private static CaseSpec Spec() => new CaseSpec()
        .Int("n", 1, 2).Int("groups", 1, 2).Int("cg", 1, 2).Int("fg", 1, 2)
        .Int("h", 1, 5).Int("w", 1, 5).Int("kh", 1, 3).Int("kw", 1, 3)
        .Int("sh", 1, 2).Int("sw", 1, 2).Int("ph", 0, 2).Int("pw", 0, 2).Int("dh", 1, 2).Int("dw", 1, 2)
        .Int("padMode", 0, 2).Int("bias", 0, 1).Int("unbatched", 0, 1)
        .Views(3)
        .Where(c => c["padMode"] != 1 || (c["sh"] == 1 && c["sw"] == 1))
        .Where(c => OutputSize(c, c["h"], c["kh"], c["sh"], c["ph"], c["dh"]) >= 1
            && OutputSize(c, c["w"], c["kw"], c["sw"], c["pw"], c["dw"]) >= 1);

    private static int OutputSize(Case c, int size, int k, int s, int p, int d)
    {
        var padded = c["padMode"] switch
        {
            0 => size + 2 * p,
            1 => size + d * (k - 1),
            _ => size,
        };
        var span = padded - d * (k - 1) - 1;
        return span < 0 ? 0 : span / s + 1;
    }

    private static Padding2d PaddingOf(Case c) => c["padMode"] switch
    {
        0 => (c["ph"], c["pw"]),
        1 => "same",
        _ => "valid",
    };

    [Test]
    [Category("GradProperty")]
    public void Conv2d_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            Spec(),
            c =>
            {
                var (groups, n) = (c["groups"], c["n"]);
                var (cIn, f) = (groups * c["cg"], groups * c["fg"]);
                int[] xShape = c["unbatched"] == 1 ? [cIn, c["h"], c["w"]] : [n, cIn, c["h"], c["w"]];
                var g = c.Generator();
                var (x, vx) = Inputs.Make(xShape, c.View(0), g);
                var (w, vw) = Inputs.Make([f, c["cg"], c["kh"], c["kw"]], c.View(1), g);
                var (b, vb) = Inputs.Make([f], c.View(2), g);
                var stride = new Size2(c["sh"], c["sw"]);
                var dilation = new Size2(c["dh"], c["dw"]);
                var padding = PaddingOf(c);
                var withBias = c["bias"] == 1;
                return GradCheck.Check(
                    t => vx(t[0]).Conv2d(vw(t[1]), withBias ? vb(t[2]) : null, stride, padding, dilation, groups),
                    withBias ? [x, w, b] : [x, w]);
            },
            maxTest: 100);

    // ---- Seed 002: a 3×3 input, one 2×2 filter, worked by hand ----

    [Test]
    public void Seed002_TwoByTwoKernel_MatchesHandDerivedGradients()
    {
        // A = [[1,2,3],[4,5,6],[7,8,9]], W = [[1,2],[3,4]], b = 0.5, Z = W ⊛ A + b:
        //   z1 = a1w1 + a2w2 + a4w3 + a5w4 = 1 + 4 + 12 + 20 = 37  (+0.5)
        //   z2 = a2w1 + a3w2 + a5w3 + a6w4 = 2 + 6 + 15 + 24 = 47
        //   z3 = a4w1 + a5w2 + a7w3 + a8w4 = 4 + 10 + 21 + 32 = 67
        //   z4 = a5w1 + a6w2 + a8w3 + a9w4 = 5 + 12 + 24 + 36 = 77
        var a = Tensor.FromArray(new double[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, [1, 1, 3, 3], requiresGrad: true);
        var w = Tensor.FromArray(new double[] { 1, 2, 3, 4 }, [1, 1, 2, 2], requiresGrad: true);
        var b = Tensor.FromArray(new double[] { 0.5 }, [1], requiresGrad: true);
        var z = a.Conv2d(w, b);
        Assert.That(z.Shape, Is.EqualTo(new[] { 1, 1, 2, 2 }));
        Assert.That(z.ToArray(), Is.EqualTo(new[] { 37.5, 47.5, 67.5, 77.5 }));

        // Z' = [[1, 0], [2, -1]].
        z.Backward(Tensor.FromArray(new double[] { 1, 0, 2, -1 }, [1, 1, 2, 2]));

        // dW = Z' ⊛ A (slide Z' over A):
        //   dw1 = z'1a1 + z'2a2 + z'3a4 + z'4a5 = 1 + 0 + 8 − 5 = 4
        //   dw2 = z'1a2 + z'2a3 + z'3a5 + z'4a6 = 2 + 0 + 10 − 6 = 6
        //   dw3 = z'1a4 + z'2a5 + z'3a7 + z'4a8 = 4 + 0 + 14 − 8 = 10
        //   dw4 = z'1a5 + z'2a6 + z'3a8 + z'4a9 = 5 + 0 + 16 − 9 = 12
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(new double[] { 4, 6, 10, 12 }));

        // dA = W₁₈₀ ⊛ pad₁(Z'), W₁₈₀ = [[4,3],[2,1]] slid over
        //   [[0, 0,  0, 0],
        //    [0, 1,  0, 0],
        //    [0, 2, −1, 0],
        //    [0, 0,  0, 0]]:
        //   row 0: 1·1 = 1;           2·1 = 2;                      0
        //   row 1: 3·1 + 1·2 = 5;     4·1 + 3·0 + 2·2 + 1·(−1) = 7;  2·(−1) = −2
        //   row 2: 3·2 = 6;           4·2 + 3·(−1) = 5;              4·(−1) = −4
        // (an unrotated kernel would give 4 at [0, 0], not 1).
        Assert.That(a.Grad!.ToArray(), Is.EqualTo(new double[] { 1, 2, 0, 5, 7, -2, 6, 5, -4 }));

        // db = Σ Z' = 1 + 0 + 2 − 1 = 2
        Assert.That(b.Grad!.ToArray(), Is.EqualTo(new double[] { 2 }));
    }

    // ---- Seed 001: 5×5 input, 3×3 kernel, stride 2, against the seed's own loops ----

    [TestCase(0)]
    [TestCase(1)]
    public void Seed001_FiveByFiveStrideTwo_MatchesSeedLoops(int pad)
    {
        const int N = 2, C = 3, F = 2, H = 5, W = 5, HH = 3, WW = 3, S = 2;
        var g = new Generator(1);
        var x = Tensor.Randn<double>([N, C, H, W], g, requiresGrad: true);
        var w = Tensor.Randn<double>([F, C, HH, WW], g, requiresGrad: true);
        var b = Tensor.Randn<double>([F], g, requiresGrad: true);
        var y = x.Conv2d(w, b, stride: S, padding: pad);

        // Hh = 1 + (H + 2P − HH) / S
        int hh = 1 + (H + 2 * pad - HH) / S, hw = 1 + (W + 2 * pad - WW) / S;
        Assert.That(y.Shape, Is.EqualTo(new[] { N, F, hh, hw }));

        var xs = To4(x);
        var ws = To4(w);
        var bs = b.ToArray();
        var xPad = new double[N, C, H + 2 * pad, W + 2 * pad];
        for (var n = 0; n < N; n++)
        {
            for (var c = 0; c < C; c++)
            {
                for (var i = 0; i < H; i++)
                {
                    for (var j = 0; j < W; j++)
                    {
                        xPad[n, c, i + pad, j + pad] = xs[n, c, i, j];
                    }
                }
            }
        }

        // out[n, f, k, l] = np.sum(x_pad[n, :, k*S:k*S+HH, l*S:l*S+WW] * w[f, :]) + b[f]
        var outExpected = new double[N, F, hh, hw];
        for (var n = 0; n < N; n++)
        {
            for (var f = 0; f < F; f++)
            {
                for (var k = 0; k < hh; k++)
                {
                    for (var l = 0; l < hw; l++)
                    {
                        var sum = 0.0;
                        for (var c = 0; c < C; c++)
                        {
                            for (var p = 0; p < HH; p++)
                            {
                                for (var q = 0; q < WW; q++)
                                {
                                    sum += xPad[n, c, k * S + p, l * S + q] * ws[f, c, p, q];
                                }
                            }
                        }

                        outExpected[n, f, k, l] = sum + bs[f];
                    }
                }
            }
        }

        Assert.That(y.ToArray(), Is.EqualTo(Flat(outExpected)).Within(1e-12));

        var dout = Tensor.Randn<double>([N, F, hh, hw], g);
        var d = To4(dout);
        y.Backward(dout);

        // dw[f', c', i, j] = np.sum(dout[:, f', :, :] * x_pad[:, c', i:i+Hh*S:S, j:j+Hw*S:S])
        var dw = new double[F, C, HH, WW];
        for (var fp = 0; fp < F; fp++)
        {
            for (var cp = 0; cp < C; cp++)
            {
                for (var i = 0; i < HH; i++)
                {
                    for (var j = 0; j < WW; j++)
                    {
                        for (var n = 0; n < N; n++)
                        {
                            for (var k = 0; k < hh; k++)
                            {
                                for (var l = 0; l < hw; l++)
                                {
                                    dw[fp, cp, i, j] += d[n, fp, k, l] * xPad[n, cp, i + k * S, j + l * S];
                                }
                            }
                        }
                    }
                }
            }
        }

        // db[f'] = np.sum(dout[:, f', :, :])
        var db = new double[F];
        for (var fp = 0; fp < F; fp++)
        {
            for (var n = 0; n < N; n++)
            {
                for (var k = 0; k < hh; k++)
                {
                    for (var l = 0; l < hw; l++)
                    {
                        db[fp] += d[n, fp, k, l];
                    }
                }
            }
        }

        // The nine loops: dx[n', c', i, j] += dout[n', f, k, l] * w[f, c', p, q] when p + kS == i + P and q + lS == j + P.
        var dx = new double[N, C, H, W];
        for (var np = 0; np < N; np++)
        {
            for (var cp = 0; cp < C; cp++)
            {
                for (var i = 0; i < H; i++)
                {
                    for (var j = 0; j < W; j++)
                    {
                        for (var f = 0; f < F; f++)
                        {
                            for (var k = 0; k < hh; k++)
                            {
                                for (var l = 0; l < hw; l++)
                                {
                                    for (var p = 0; p < HH; p++)
                                    {
                                        for (var q = 0; q < WW; q++)
                                        {
                                            if (p + k * S == i + pad && q + S * l == j + pad)
                                            {
                                                dx[np, cp, i, j] += d[np, f, k, l] * ws[f, cp, p, q];
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        Assert.That(w.Grad!.ToArray(), Is.EqualTo(Flat(dw)).Within(1e-12));
        Assert.That(b.Grad!.ToArray(), Is.EqualTo(db).Within(1e-12));
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(Flat(dx)).Within(1e-12));
    }

    // ---- Forward and backward against direct loops ----

    /// <summary>Random configurations (groups, dilation, asymmetric padding, strides), float and double.</summary>
    private static IEnumerable<Config> RandomConfigs(int count, int seed)
    {
        var g = new Generator((ulong)seed);
        var made = 0;
        while (made < count)
        {
            var groups = 1 + g.NextInt(3);
            var cfg = new Config(
                N: 1 + g.NextInt(3), Groups: groups, C: groups * (1 + g.NextInt(3)), F: groups * (1 + g.NextInt(3)),
                H: 1 + g.NextInt(9), W: 1 + g.NextInt(9), KH: 1 + g.NextInt(4), KW: 1 + g.NextInt(4),
                Stride: (1 + g.NextInt(3), 1 + g.NextInt(3)), Dilation: (1 + g.NextInt(3), 1 + g.NextInt(3)),
                Pad: (g.NextInt(3), g.NextInt(3)), Same: g.NextInt(4) == 0);
            if (cfg.Same)
            {
                cfg = cfg with { Stride = (1, 1) };
            }

            if (cfg.OH >= 1 && cfg.OW >= 1)
            {
                made++;
                yield return cfg;
            }
        }
    }

    [Test]
    public void Forward_MatchesDirectConvolution_Double()
    {
        var g = new Generator(11);
        foreach (var cfg in RandomConfigs(60, 5))
        {
            var x = Tensor.Randn<double>([cfg.N, cfg.C, cfg.H, cfg.W], g);
            var w = Tensor.Randn<double>([cfg.F, cfg.C / cfg.Groups, cfg.KH, cfg.KW], g);
            var b = Tensor.Randn<double>([cfg.F], g);
            var y = x.Conv2d(w, b, cfg.Stride, cfg.Padding, cfg.Dilation, cfg.Groups);
            Assert.That(y.Shape, Is.EqualTo(new[] { cfg.N, cfg.F, cfg.OH, cfg.OW }), cfg.ToString());
            Assert.That(y.ToArray(), Is.EqualTo(Direct(cfg, x.ToArray(), w.ToArray(), b.ToArray())).Within(1e-10), cfg.ToString());
        }
    }

    [Test]
    public void Forward_MatchesDirectConvolution_Float()
    {
        var g = new Generator(12);
        foreach (var cfg in RandomConfigs(60, 6))
        {
            var x = Tensor.Randn<float>([cfg.N, cfg.C, cfg.H, cfg.W], g);
            var w = Tensor.Randn<float>([cfg.F, cfg.C / cfg.Groups, cfg.KH, cfg.KW], g);
            var y = x.Conv2d(w, null, cfg.Stride, cfg.Padding, cfg.Dilation, cfg.Groups);
            var expected = Direct(cfg, [.. x.ToArray().Select(v => (double)v)], [.. w.ToArray().Select(v => (double)v)], null);
            Assert.That(y.ToArray().Select(v => (double)v), Is.EqualTo(expected).Within(1e-4), cfg.ToString());
        }
    }

    [Test]
    public void Backward_MatchesDirectScatter_OnBothParallelPaths()
    {
        // The two large configurations take the two parallel paths: images spread over threads, or
        // images in turn with each product large enough for Gemm to split.
        var g = new Generator(13);
        Config[] large =
        [
            new(8, 2, 16, 16, 16, 16, 3, 3, (1, 1), (1, 1), (1, 1), false),   // images over threads, one-thread GEMMs
            new(3, 1, 16, 64, 16, 16, 3, 3, (1, 1), (1, 1), (1, 1), false),   // images in turn (3 chunks, 2 threads), GEMMs split by Gemm
        ];
        foreach (var cfg in RandomConfigs(30, 7).Concat(large))
        {
            var x = Tensor.Randn<double>([cfg.N, cfg.C, cfg.H, cfg.W], g, requiresGrad: true);
            var w = Tensor.Randn<double>([cfg.F, cfg.C / cfg.Groups, cfg.KH, cfg.KW], g, requiresGrad: true);
            var b = Tensor.Randn<double>([cfg.F], g, requiresGrad: true);
            var y = x.Conv2d(w, b, cfg.Stride, cfg.Padding, cfg.Dilation, cfg.Groups);
            var dy = Tensor.Randn<double>(y.Shape, g);
            y.Backward(dy);
            var (dx, dw, db) = DirectBackward(cfg, x.ToArray(), w.ToArray(), dy.ToArray());
            Assert.That(x.Grad!.ToArray(), Is.EqualTo(dx).Within(1e-9), cfg.ToString());
            Assert.That(w.Grad!.ToArray(), Is.EqualTo(dw).Within(1e-9), cfg.ToString());
            Assert.That(b.Grad!.ToArray(), Is.EqualTo(db).Within(1e-9), cfg.ToString());
        }
    }

    [Test]
    public void LargeImages_AreSplitIntoColumnBlocks_AndMatchDirectLoops()
    {
        // K·P above ConvColumns' block budget, so columns are packed and scattered a block of output
        // positions at a time, blocks starting mid-row: "same" padding at stride 1 (the shifted-copy path),
        // stride 2, dilation 2 with asymmetric padding, and a transposed input (the row-by-row path).
        var g = new Generator(31);
        Config[] configs =
        [
            new(2, 1, 32, 3, 24, 24, 3, 3, (1, 1), (1, 1), (1, 1), true),
            new(1, 1, 32, 2, 48, 44, 3, 3, (2, 2), (1, 1), (1, 1), false),
            new(1, 2, 48, 4, 30, 34, 3, 3, (1, 1), (2, 2), (2, 1), false),
        ];
        foreach (var cfg in configs)
        {
            Assert.That((long)cfg.C / cfg.Groups * cfg.KH * cfg.KW * cfg.OH * cfg.OW, Is.GreaterThan(128 * 1024), cfg.ToString());
            BothLayoutsMatchDirectLoops(cfg, g, bias: false);
        }
    }

    [Test]
    public void Float_StrideTwoRows_AndPackedFilters_MatchDirectLoops()
    {
        // Float on the packed-column path with rows of stride-2 taps long enough for the vector gather and
        // scatter (8 taps a step, the rest one by one: OW 9 to 21, odd and even widths, a tap run ending
        // on the input's last element), in one block and split into blocks, a filter count that is not a
        // whole micro-panel, two groups, and a depth of several GEMM slices (K = 64·9 = 576).
        var g = new Generator(47);
        Config[] configs =
        [
            new(2, 1, 3, 5, 20, 41, 3, 3, (2, 2), (1, 1), (1, 1), false),
            new(1, 1, 2, 3, 9, 17, 1, 3, (1, 2), (1, 1), (0, 0), false),
            new(3, 2, 4, 10, 11, 36, 3, 2, (2, 2), (1, 2), (0, 1), false),
            new(2, 1, 64, 13, 30, 30, 3, 3, (2, 2), (1, 1), (1, 1), false),
            new(1, 1, 64, 24, 56, 56, 3, 3, (2, 2), (1, 1), (1, 1), false),
        ];
        foreach (var cfg in configs)
        {
            Assert.That(WideConv.Applies<float>(GeometryOf(cfg)), Is.False, cfg.ToString());
            FloatMatchesDirectLoops(cfg, g);
        }
    }

    /// <summary>y, dX and dW of the op in float against the direct loops in double, within the rounding of the sums.</summary>
    private static void FloatMatchesDirectLoops(Config cfg, Generator g)
    {
        var x = Tensor.Randn<float>([cfg.N, cfg.C, cfg.H, cfg.W], g, requiresGrad: true);
        var w = Tensor.Randn<float>([cfg.F, cfg.C / cfg.Groups, cfg.KH, cfg.KW], g, requiresGrad: true);
        var y = x.Conv2d(w, null, cfg.Stride, cfg.Padding, cfg.Dilation, cfg.Groups);
        var dy = Tensor.Randn<float>(y.Shape, g);
        y.Backward(dy);
        double[] D(Tensor<float> t) => [.. t.ToArray().Select(v => (double)v)];
        var (dx, dw, _) = DirectBackward(cfg, D(x), D(w), D(dy));
        var tolerance = 2e-5 * cfg.C / cfg.Groups * cfg.KH * cfg.KW;
        Assert.That(D(y), Is.EqualTo(Direct(cfg, D(x), D(w), null)).Within(tolerance), cfg.ToString());
        Assert.That(D(x.Grad!), Is.EqualTo(dx).Within(tolerance), cfg.ToString());
        Assert.That(D(w.Grad!), Is.EqualTo(dw).Within(tolerance * cfg.OH * cfg.OW * cfg.N / 10), cfg.ToString());
    }

    [Test]
    public void Winograd_MatchesDirectLoops_ForEveryPaddingAndParity()
    {
        // 3×3 stride 1 with 64+ channels each way: the forward and dX by F(2×2, 3×3). Padding 0, 1 and 2,
        // different for rows and columns, odd and even output sizes (a half tile at the edge), several
        // bands of tile rows, two groups, and a transposed (non-contiguous) input; dW comes from the
        // other paths.
        var g = new Generator(49);
        Config[] configs =
        [
            new(2, 1, 64, 64, 9, 8, 3, 3, (1, 1), (1, 1), (1, 1), false),
            new(1, 1, 65, 70, 12, 13, 3, 3, (1, 1), (1, 1), (0, 0), false),
            new(2, 2, 128, 130, 7, 11, 3, 3, (1, 1), (1, 1), (2, 2), false),
            new(1, 1, 64, 64, 10, 10, 3, 3, (1, 1), (1, 1), (2, 1), false),
            new(1, 1, 64, 64, 60, 57, 3, 3, (1, 1), (1, 1), (1, 1), false),
            new(1, 1, 301, 64, 5, 70, 3, 3, (1, 1), (1, 1), (1, 1), false),  // U and V in two depth slices, 151 and 150
        ];
        // Small images otherwise go to WideConv, which takes precedence. Each image in one band (the
        // default), then cut into bands of a tile row or two.
        var band = Winograd.BandElements;
        WideConv.Disabled = true;
        try
        {
            foreach (var bandElements in new[] { band, 16 * 1024 })
            {
                Winograd.BandElements = bandElements;
                foreach (var cfg in configs)
                {
                    WinogradMatchesDirectLoops(cfg, g);
                }
            }
        }
        finally
        {
            WideConv.Disabled = false;
            Winograd.BandElements = band;
        }
    }

    [Test]
    public void Winograd_ChannelCountsThatAreMultiplesOf128_Finish()
    {
        // The scratch rows are lengthened off multiples of 4 KiB; with 128 float (256 double) channels a
        // step of one vector never got there, and ScratchLength looped for ever (a ResNet-sized 3×3 layer hung).
        // Run on a pool thread, so that a regression fails here instead of hanging the suite.
        var lengths = Task.Run(() => new[] { 128, 256, 1024, 2048 }.Select(channels =>
        {
            var shape = new Winograd.Shape(channels, 16, 16, channels, 16, 16, 1, 1);
            return Math.Min(Winograd.ScratchLength<float>(shape), Winograd.ScratchLength<double>(shape));
        }).ToArray());
        Assert.That(lengths.Wait(TimeSpan.FromSeconds(30)), Is.True, "Winograd.ScratchLength did not return");
        Assert.That(lengths.Result, Is.All.GreaterThan(0));

        // And the convolution itself, against direct loops (the same geometry through Winograd).
        WideConv.Disabled = true;
        try
        {
            var cfg = new Config(1, 1, 128, 128, 16, 16, 3, 3, (1, 1), (1, 1), (1, 1), false);
            FloatMatchesDirectLoops(cfg, new Generator(50));
        }
        finally
        {
            WideConv.Disabled = false;
        }
    }

    /// <summary>
    /// <see cref="MatchesDirectLoops"/> on a contiguous input and on a transposed view of one, with random weights
    /// (and bias): x, w and b drawn from <paramref name="g"/> in that order for each layout.
    /// </summary>
    internal static void BothLayoutsMatchDirectLoops(Config cfg, Generator g, bool bias)
    {
        foreach (var transposed in new[] { false, true })
        {
            var x = transposed
                ? Tensor.Randn<double>([cfg.N, cfg.C, cfg.W, cfg.H], g).Transpose(2, 3).Detach()
                : Tensor.Randn<double>([cfg.N, cfg.C, cfg.H, cfg.W], g);
            x.RequiresGrad = true;
            var w = Tensor.Randn<double>([cfg.F, cfg.C / cfg.Groups, cfg.KH, cfg.KW], g, requiresGrad: true);
            var b = bias ? Tensor.Randn<double>([cfg.F], g, requiresGrad: true) : null;
            MatchesDirectLoops(cfg, x, w, b, g);
        }
    }

    private static void WinogradMatchesDirectLoops(Config cfg, Generator g)
    {
        Assert.That(Winograd.Applies<double>(GeometryOf(cfg)), Is.True, cfg.ToString());
        BothLayoutsMatchDirectLoops(cfg, g, bias: true);

        // Float, against the same loops in double: the transforms' rounding is a few ulp of the sums.
        FloatMatchesDirectLoops(cfg, g);
    }

    [Test]
    [NonParallelizable] // Turns on the pool's process-wide poison: an element of dX that no kernel writes reads NaN.
    public void InputGradient_WritesEveryElement_OfAPoisonedBuffer()
    {
        // dX comes uninitialised from the pool and each run of images clears its own planes: the second
        // round's buffers are the first round's, poisoned on their way back.
        var poison = BufferPool.Poison;
        BufferPool.Poison = true;
        try
        {
            for (var round = 0; round < 2; round++)
            {
                InputGradientRound();
                GC.Collect();
                BufferPool.Reclaim();
            }
        }
        finally
        {
            BufferPool.Poison = poison;
        }
    }

    private static void InputGradientRound()
    {
        var g = new Generator(48);
        Config[] configs =
        [
            // More images than chunks (16), so that runs of several images share one call.
            new(35, 1, 6, 16, 14, 14, 5, 5, (1, 1), (1, 1), (0, 0), false),  // wide rows
            new(2, 1, 8, 5, 20, 41, 3, 3, (2, 2), (1, 1), (1, 1), false),    // packed columns, stride 2
            new(35, 1, 8, 40, 6, 6, 3, 3, (1, 1), (1, 1), (1, 1), false),    // small images side by side
            new(2, 2, 4, 6, 9, 9, 2, 2, (1, 1), (1, 1), (0, 0), false),      // shallow products, groups
            new(2, 1, 64, 64, 40, 39, 3, 3, (1, 1), (1, 1), (1, 1), false),  // Winograd
        ];
        foreach (var cfg in configs)
        {
            var x = Tensor.Randn<float>([cfg.N, cfg.C, cfg.H, cfg.W], g, requiresGrad: true);
            var w = Tensor.Randn<float>([cfg.F, cfg.C / cfg.Groups, cfg.KH, cfg.KW], g);
            var y = x.Conv2d(w, null, cfg.Stride, cfg.Padding, cfg.Dilation, cfg.Groups);
            var dy = Tensor.Randn<float>(y.Shape, g);
            y.Backward(dy);
            double[] D(Tensor<float> t) => [.. t.ToArray().Select(v => (double)v)];
            var (dx, _, _) = DirectBackward(cfg, D(x), D(w), D(dy));
            Assert.That(D(x.Grad!), Is.EqualTo(dx).Within(1e-3), cfg.ToString());
        }
    }

    /// <summary>The op's geometry for a test config (what Conv2dExtensions.Check computes).</summary>
    private static ConvGeometry GeometryOf(Config cfg) =>
        new(cfg.N, cfg.C, cfg.H, cfg.W, cfg.F, cfg.Groups, cfg.KH, cfg.KW, new Size2(cfg.Stride.H, cfg.Stride.W), new Size2(cfg.Dilation.H, cfg.Dilation.W),
            cfg.Pads.Top, cfg.Pads.Bottom, cfg.Pads.Left, cfg.Pads.Right, cfg.OH, cfg.OW);

    [Test]
    public void WideRows_MatchDirectLoops_ForEveryStrideOneGeometry()
    {
        // Stride 1 over small images goes to WideConv (no im2col): LeNet's conv2 and conv1, a padded
        // c2-like layer, and random small geometries with dilation, groups, "same" padding and 1×1 kernels.
        var g = new Generator(43);
        Config[] fixedConfigs =
        [
            new(3, 1, 6, 16, 14, 14, 5, 5, (1, 1), (1, 1), (0, 0), false),
            new(2, 1, 1, 6, 28, 28, 5, 5, (1, 1), (1, 1), (2, 2), false),
            new(2, 1, 8, 20, 12, 12, 3, 3, (1, 1), (1, 1), (1, 1), false),
            new(2, 3, 6, 9, 9, 7, 3, 2, (1, 1), (2, 1), (1, 0), true),
        ];
        // Random stride-1 geometries whose rows are at most twice as wide as the output (the others take the packed path).
        var random = RandomConfigs(400, 17).Where(c => c.Stride == (1, 1) && c.W + c.Pads.Left + c.Pads.Right <= 2 * c.OW).Take(40);
        var configs = fixedConfigs.Concat(random).ToArray();
        foreach (var cfg in configs)
        {
            Assert.That(WideConv.Applies<double>(GeometryOf(cfg)) && WideConv.Applies<float>(GeometryOf(cfg)), Is.True, cfg.ToString());
            var x = Tensor.Randn<double>([cfg.N, cfg.C, cfg.H, cfg.W], g, requiresGrad: true);
            var w = Tensor.Randn<double>([cfg.F, cfg.C / cfg.Groups, cfg.KH, cfg.KW], g, requiresGrad: true);
            var b = Tensor.Randn<double>([cfg.F], g, requiresGrad: true);
            MatchesDirectLoops(cfg, x, w, b, g);
        }

        Assert.That(configs.Length, Is.GreaterThan(30));
    }

    [Test]
    public void WideRows_ReadAStridedInput_AndGiveThePackedPathsResult_InFloat()
    {
        // A transposed (non-contiguous) float input; the packed path is the reference.
        var g = new Generator(44);
        var x = Tensor.Randn<float>([3, 6, 13, 11], g).Transpose(2, 3);
        var w = Tensor.Randn<float>([16, 6, 5, 5], g);
        var b = Tensor.Randn<float>([16], g);
        var dy = Tensor.Randn<float>([3, 16, 9, 11], g);
        (float[] Y, float[] DX, float[] DW) Run()
        {
            var leafX = x.Detach();
            leafX.RequiresGrad = true;
            var leafW = w.Detach();
            leafW.RequiresGrad = true;
            var y = leafX.Conv2d(leafW, b, padding: 1);
            y.Backward(dy);
            return (y.ToArray(), leafX.Grad!.ToArray(), leafW.Grad!.ToArray());
        }

        Assert.That(x.IsContiguous, Is.False);
        var wide = Run();
        WideConv.Disabled = true;
        try
        {
            var packed = Run();
            Assert.That(wide.Y, Is.EqualTo(packed.Y).Within(1e-3));
            Assert.That(wide.DX, Is.EqualTo(packed.DX).Within(1e-3));
            Assert.That(wide.DW, Is.EqualTo(packed.DW).Within(1e-2));
        }
        finally
        {
            WideConv.Disabled = false;
        }
    }

    [Test]
    public void WideRows_DropTheExtraColumns_EvenAgainstInfinity()
    {
        // x[0, 0, 0, 3] = ∞ meets only dW[0, 0, 0, 2] in the true convolution (oh = 0, ow = 1, kh = 0, kw = 2),
        // but the wide rows also pair it with dY's dropped columns (zeros): 0·∞ = NaN unless masked.
        // Likewise W[0, 0, 0, 0] = ∞ reaches only dX[.., 0..OH, 0..OW].
        var x = (Tensor.Arange(16.0).Reshape(1, 1, 4, 4) * 0.1).Detach();
        x[0, 0, 0, 3].Fill(double.PositiveInfinity);
        x.RequiresGrad = true;
        var w = (Tensor.Arange(1.0, 10.0, 1.0).Reshape(1, 1, 3, 3) * 0.1).Detach();
        w.RequiresGrad = true;
        x.Conv2d(w).Sum().Backward();
        var dw = w.Grad!.ToArray();
        Assert.That(Enumerable.Range(0, 9).Where(i => !double.IsFinite(dw[i])), Is.EqualTo(new[] { 2 }), string.Join(", ", dw));

        var x2 = (Tensor.Arange(16.0).Reshape(1, 1, 4, 4) * 0.1).Detach();
        x2.RequiresGrad = true;
        var w2 = (Tensor.Arange(1.0, 10.0, 1.0).Reshape(1, 1, 3, 3) * 0.1).Detach();
        w2[0, 0, 0, 0].Fill(double.PositiveInfinity);
        w2.RequiresGrad = true;
        x2.Conv2d(w2).Sum().Backward();
        var dx = x2.Grad!.ToArray();
        var infinite = Enumerable.Range(0, 16).Where(i => !double.IsFinite(dx[i])).ToArray();
        Assert.That(infinite, Is.EqualTo(new[] { 0, 1, 4, 5 }), string.Join(", ", dx));
    }

    [Test]
    public void SmallImages_RunSideBySideInOneProduct_AndMatchDirectLoops()
    {
        // These stride-1 geometries would go to WideConv; this test keeps the packed, batched path covered.
        WideConv.Disabled = true;
        try
        {
            SmallImagesSideBySide();
        }
        finally
        {
            WideConv.Disabled = false;
        }
    }

    private static void SmallImagesSideBySide()
    {
        // Small P on the Gemm path (K = 100 > the shallow depth): the images of a chunk (37 images in 16
        // chunks, 2 or 3 each) run m at a time in one wide product per group, m = 2 (P = 400, so a chunk of
        // 3 is a pair and a single) or 5 (P = 196, with padding); dX batched through Gemm (Fg = 34) and
        // image by image through the shallow kernel (Fg = 4). Bias added per image slice.
        var g = new Generator(41);
        Config[] configs =
        [
            new(37, 2, 8, 68, 24, 24, 5, 5, (1, 1), (1, 1), (0, 0), false),
            new(37, 2, 8, 8, 16, 16, 5, 5, (1, 1), (1, 1), (1, 1), false),
        ];
        foreach (var cfg in configs)
        {
            var x = Tensor.Randn<double>([cfg.N, cfg.C, cfg.H, cfg.W], g, requiresGrad: true);
            var w = Tensor.Randn<double>([cfg.F, cfg.C / cfg.Groups, cfg.KH, cfg.KW], g, requiresGrad: true);
            var b = Tensor.Randn<double>([cfg.F], g, requiresGrad: true);
            MatchesDirectLoops(cfg, x, w, b, g);
        }
    }

    /// <summary>y, dX and dW of the op against the direct loops, for a random cotangent.</summary>
    internal static void MatchesDirectLoops(Config cfg, Tensor<double> x, Tensor<double> w, Tensor<double>? b, Generator g)
    {
        var y = x.Conv2d(w, b, cfg.Stride, cfg.Padding, cfg.Dilation, cfg.Groups);
        Assert.That(y.ToArray(), Is.EqualTo(Direct(cfg, x.ToArray(), w.ToArray(), b?.ToArray())).Within(1e-10), cfg.ToString());
        var dy = Tensor.Randn<double>(y.Shape, g);
        y.Backward(dy);
        var (dx, dw, _) = DirectBackward(cfg, x.ToArray(), w.ToArray(), dy.ToArray());
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(dx).Within(1e-10), cfg.ToString());
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(dw).Within(1e-10), cfg.ToString());
    }

    [Test]
    public void FusedBackward_AndRecordedBackward_GiveTheSameBits()
    {
        // Without createGraph the VJP is one fused pass; with it, the recorded ConvTranspose2d and weight
        // gradient ops. Both run the same per-image kernels in the same order.
        var g = new Generator(37);
        foreach (var cfg in RandomConfigs(20, 9).Append(new(4, 1, 32, 8, 24, 24, 3, 3, (1, 1), (1, 1), (1, 1), true)).Append(new(37, 2, 8, 68, 24, 24, 5, 5, (1, 1), (1, 1), (0, 0), false)))
        {
            var x = Tensor.Randn<float>([cfg.N, cfg.C, cfg.H, cfg.W], g, requiresGrad: true);
            var w = Tensor.Randn<float>([cfg.F, cfg.C / cfg.Groups, cfg.KH, cfg.KW], g, requiresGrad: true);
            var b = Tensor.Randn<float>([cfg.F], g, requiresGrad: true);
            var dy = Tensor.Randn<float>([cfg.N, cfg.F, cfg.OH, cfg.OW], g);
            var fused = Tensor.Grad([x.Conv2d(w, b, cfg.Stride, cfg.Padding, cfg.Dilation, cfg.Groups)], [x, w, b], [dy]);
            var recorded = Tensor.Grad([x.Conv2d(w, b, cfg.Stride, cfg.Padding, cfg.Dilation, cfg.Groups)], [x, w, b], [dy], createGraph: true);
            Assert.That(recorded[0]!.RequiresGrad && recorded[1]!.RequiresGrad, Is.True, cfg.ToString());
            for (var i = 0; i < 3; i++)
            {
                Assert.That(recorded[i]!.ToArray(), Is.EqualTo(fused[i]!.ToArray()), $"{cfg} gradient {i}");
            }
        }
    }

    [Test]
    public void OneByOneKernel_UsesTheInputAsColumns_AndMatchesDirectLoops()
    {
        // A 1×1 kernel at stride 1 over a contiguous input: the [C, 1, 1, H, W] window view is already
        // the [C, H·W] column matrix, so the GEMM reads the input itself.
        var g = new Generator(26);
        var x = Tensor.Randn<double>([3, 4, 5, 6], g, requiresGrad: true);
        var windows = Window.View(x, 1, 1, 1);
        var (data, offset, rowStride, colStride) = Window.Columns(windows, 2, 2, 2, new double[2 * 30]);
        Assert.That(data.Span.Overlaps(x.Storage.Span) && data.Length == x.Storage.Length && offset == 2 * 120 + 2 * 30 && rowStride == 30 && colStride == 1, Is.True);

        // A transposed input does not collapse: it is packed.
        var xt = Tensor.Randn<double>([3, 4, 6, 5], g).Transpose(2, 3);
        var scratch = new double[2 * 30];
        Assert.That(Window.Columns(Window.View(xt, 1, 1, 1), 0, 0, 2, scratch).Memory.Span.Overlaps(scratch), Is.True);

        var cfg = new Config(3, 2, 4, 6, 5, 6, 1, 1, (1, 1), (1, 1), (0, 0), false);
        var w = Tensor.Randn<double>([6, 2, 1, 1], g, requiresGrad: true);
        var y = x.Conv2d(w, groups: 2);
        Assert.That(y.ToArray(), Is.EqualTo(Direct(cfg, x.ToArray(), w.ToArray(), null)).Within(1e-12));
        var dy = Tensor.Randn<double>(y.Shape, g);
        y.Backward(dy);
        var (dx, dw, _) = DirectBackward(cfg, x.ToArray(), w.ToArray(), dy.ToArray());
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(dx).Within(1e-12));
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(dw).Within(1e-12));
    }

    [Test]
    public void NonContiguousGradOutput_GivesTheSameGradients()
    {
        var g = new Generator(14);
        var x = Tensor.Randn<double>([2, 2, 5, 6], g, requiresGrad: true);
        var w = Tensor.Randn<double>([3, 2, 2, 3], g, requiresGrad: true);
        var dyT = Tensor.Randn<double>([2, 3, 6, 4], g).Transpose(2, 3);   // [2, 3, 4, 6], column-major planes
        x.Conv2d(w, stride: 1, padding: (0, 1)).Backward(dyT);
        var (dx1, dw1) = (x.Grad!.ToArray(), w.Grad!.ToArray());
        x.Grad = null;
        w.Grad = null;
        x.Conv2d(w, stride: 1, padding: (0, 1)).Backward(dyT.Contiguous());
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(dx1));
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(dw1));
    }

    [Test]
    public void OnlyRequestedGradients_AreComputed()
    {
        var g = new Generator(15);
        var x = Tensor.Randn<double>([1, 2, 4, 4], g);
        var w = Tensor.Randn<double>([2, 2, 3, 3], g, requiresGrad: true);
        var b = Tensor.Randn<double>([2], g);
        var y = x.Conv2d(w, b, padding: 1);
        Assert.That(y.GradFn!.OpName, Is.EqualTo("Conv2d"));
        y.Sum().Backward();
        Assert.That(x.Grad, Is.Null);
        Assert.That(b.Grad, Is.Null);
        Assert.That(w.Grad!.Shape, Is.EqualTo(new[] { 2, 2, 3, 3 }));

        using (Tensor.NoGrad())
        {
            Assert.That(x.Conv2d(w).RequiresGrad, Is.False);
        }

        Assert.That(x.Conv2d(w.Detach()).RequiresGrad, Is.False);
    }

    [Test]
    public void UnbatchedInput_IsABatchOfOne()
    {
        var g = new Generator(16);
        var x = Tensor.Randn<double>([3, 6, 5], g);
        var w = Tensor.Randn<double>([4, 3, 3, 2], g);
        var y = x.Conv2d(w, stride: (2, 1), padding: 1);
        Assert.That(y.Shape, Is.EqualTo(new[] { 4, 3, 6 }));
        Assert.That(y.ToArray(), Is.EqualTo(x.Reshape(1, 3, 6, 5).Conv2d(w, stride: (2, 1), padding: 1).ToArray()));
    }

    // ---- "same" and "valid" ----

    [TestCase(3, 3, 1, 1)]
    [TestCase(2, 2, 1, 1)]
    [TestCase(4, 1, 1, 1)]
    [TestCase(3, 2, 2, 3)]
    [TestCase(2, 4, 2, 1)]
    public void PaddingSame_KeepsTheSize_AndPadsTheExtraOnTheBottomRight(int kh, int kw, int dh, int dw)
    {
        var g = new Generator(17);
        var x = Tensor.Randn<double>([2, 2, 7, 6], g);
        var w = Tensor.Randn<double>([3, 2, kh, kw], g);
        var y = x.Conv2d(w, padding: "same", dilation: (dh, dw));
        Assert.That(y.Shape, Is.EqualTo(new[] { 2, 3, 7, 6 }));

        // PyTorch: total = d·(k − 1), left = total / 2, right = total − left.
        var (th, tw) = (dh * (kh - 1), dw * (kw - 1));
        var cfg = new Config(2, 1, 2, 3, 7, 6, kh, kw, (1, 1), (dh, dw), (0, 0), false)
        {
            PadOverride = (th / 2, th - th / 2, tw / 2, tw - tw / 2),
        };
        Assert.That(y.ToArray(), Is.EqualTo(Direct(cfg, x.ToArray(), w.ToArray(), null)).Within(1e-10));
    }

    [Test]
    public void PaddingValid_IsNoPadding()
    {
        var g = new Generator(18);
        var x = Tensor.Randn<double>([1, 2, 6, 5], g);
        var w = Tensor.Randn<double>([2, 2, 3, 2], g);
        Assert.That(x.Conv2d(w, padding: "valid").ToArray(), Is.EqualTo(x.Conv2d(w).ToArray()));
        Assert.That(x.Conv2d(w, padding: "VALID").Shape, Is.EqualTo(new[] { 1, 2, 4, 4 }));
        Assert.That(x.Conv2d(w, padding: Padding2d.Valid).Shape, Is.EqualTo(new[] { 1, 2, 4, 4 }));
    }

    [Test]
    public void Size2AndPadding2d_ConvertLikePyTorchArguments()
    {
        Size2 s = 3;
        Size2 t = (2, 5);
        Padding2d p = 1;
        Padding2d q = (0, 2);
        Padding2d same = "same";
        Assert.That(s, Is.EqualTo(new Size2(3, 3)));
        Assert.That(t, Is.EqualTo(new Size2(2, 5)));
        Assert.That(p.IsExplicit && p.Size == new Size2(1, 1), Is.True);
        Assert.That(q.Size, Is.EqualTo(new Size2(0, 2)));
        Assert.That(same.IsSame && same == Padding2d.Same, Is.True);
        Assert.That(s.ToString(), Is.EqualTo("(3, 3)"));
    }

    // ---- Argument errors: ArgumentException naming the op, the argument and the shapes ----

    private static IEnumerable<TestCaseData> BadArguments()
    {
        static TestCaseData Case(string name, int[] x, int[] w, int[]? b, Func<Tensor<double>, Tensor<double>, Tensor<double>?, Tensor<double>> call, string expected) =>
            new TestCaseData(x, w, b, call, expected).SetName("Conv2d_Rejects_" + name);

        yield return Case("ChannelMismatch", [2, 3, 8, 8], [6, 4, 3, 3], null, (x, w, b) => x.Conv2d(w, b),
            "Conv2d: input has 3 channels but weight expects 4 (input [2, 3, 8, 8], weight [6, 4, 3, 3])");
        yield return Case("GroupedChannelMismatch", [1, 4, 5, 5], [4, 1, 3, 3], null, (x, w, b) => x.Conv2d(w, b, groups: 2),
            "Conv2d: input has 4 channels but weight expects 2 (1 per group × 2 groups) (input [1, 4, 5, 5], weight [4, 1, 3, 3])");
        yield return Case("InputRank2", [5, 5], [1, 1, 3, 3], null, (x, w, b) => x.Conv2d(w, b),
            "Conv2d: input must be 4-D [N, C, H, W] or 3-D [C, H, W], got rank 2 (input [5, 5], weight [1, 1, 3, 3])");
        yield return Case("InputRank5", [1, 1, 1, 5, 5], [1, 1, 3, 3], null, (x, w, b) => x.Conv2d(w, b),
            "got rank 5 (input [1, 1, 1, 5, 5], weight [1, 1, 3, 3])");
        yield return Case("WeightRank3", [1, 1, 5, 5], [1, 3, 3], null, (x, w, b) => x.Conv2d(w, b),
            "Conv2d: weight must be 4-D [F, C/groups, KH, KW], got rank 3 (input [1, 1, 5, 5], weight [1, 3, 3])");
        yield return Case("EmptyKernel", [1, 1, 5, 5], [1, 1, 0, 3], null, (x, w, b) => x.Conv2d(w, b),
            "Conv2d: kernel size must be positive, got (0, 3) (input [1, 1, 5, 5], weight [1, 1, 0, 3])");
        yield return Case("ZeroStride", [1, 1, 5, 5], [1, 1, 3, 3], null, (x, w, b) => x.Conv2d(w, b, stride: (1, 0)),
            "Conv2d: stride must be positive, got (1, 0) (input [1, 1, 5, 5], weight [1, 1, 3, 3])");
        yield return Case("NegativeStride", [1, 1, 5, 5], [1, 1, 3, 3], null, (x, w, b) => x.Conv2d(w, b, stride: -1),
            "Conv2d: stride must be positive, got (-1, -1)");
        yield return Case("ZeroDilation", [1, 1, 5, 5], [1, 1, 3, 3], null, (x, w, b) => x.Conv2d(w, b, dilation: 0),
            "Conv2d: dilation must be positive, got (0, 0) (input [1, 1, 5, 5], weight [1, 1, 3, 3])");
        yield return Case("NegativePadding", [1, 1, 5, 5], [1, 1, 3, 3], null, (x, w, b) => x.Conv2d(w, b, padding: (0, -1)),
            "Conv2d: padding must be non-negative, got (0, -1) (input [1, 1, 5, 5], weight [1, 1, 3, 3])");
        yield return Case("UnknownPaddingString", [1, 1, 5, 5], [1, 1, 3, 3], null, (x, w, b) => x.Conv2d(w, b, padding: "full"),
            "Conv2d: padding \"full\" is not an int, an (h, w) pair, \"same\" or \"valid\" (input [1, 1, 5, 5], weight [1, 1, 3, 3])");
        yield return Case("SameWithStride", [1, 1, 5, 5], [1, 1, 3, 3], null, (x, w, b) => x.Conv2d(w, b, stride: 2, padding: "same"),
            "Conv2d: padding \"same\" needs stride 1, got stride (2, 2) (input [1, 1, 5, 5], weight [1, 1, 3, 3])");
        yield return Case("ZeroGroups", [1, 2, 5, 5], [2, 2, 3, 3], null, (x, w, b) => x.Conv2d(w, b, groups: 0),
            "Conv2d: groups must be positive, got 0 (input [1, 2, 5, 5], weight [2, 2, 3, 3])");
        yield return Case("GroupsNotDividingChannels", [1, 3, 5, 5], [2, 1, 3, 3], null, (x, w, b) => x.Conv2d(w, b, groups: 2),
            "Conv2d: groups 2 does not divide the 3 input channels (input [1, 3, 5, 5], weight [2, 1, 3, 3])");
        yield return Case("GroupsNotDividingFilters", [1, 4, 5, 5], [3, 2, 3, 3], null, (x, w, b) => x.Conv2d(w, b, groups: 2),
            "Conv2d: groups 2 does not divide the 3 filters of the weight (input [1, 4, 5, 5], weight [3, 2, 3, 3])");
        yield return Case("OutputTooSmall", [1, 1, 2, 5], [1, 1, 3, 3], null, (x, w, b) => x.Conv2d(w, b),
            "Conv2d: output size (0, 3) is too small: the padded input (2, 5) is smaller than the dilated kernel (3, 3) (padding (0, 0), stride (1, 1), dilation (1, 1)) (input [1, 1, 2, 5], weight [1, 1, 3, 3])");
        yield return Case("OutputTooSmallByDilation", [1, 1, 5, 5], [1, 1, 3, 3], null, (x, w, b) => x.Conv2d(w, b, dilation: (1, 3)),
            "the dilated kernel (3, 7)");
        yield return Case("BiasLength", [1, 2, 5, 5], [6, 2, 3, 3], [5], (x, w, b) => x.Conv2d(w, b),
            "Conv2d: bias must have shape [6] (one per filter), got [5] (input [1, 2, 5, 5], weight [6, 2, 3, 3], bias [5])");
        yield return Case("BiasRank", [1, 2, 5, 5], [6, 2, 3, 3], [1, 6], (x, w, b) => x.Conv2d(w, b),
            "Conv2d: bias must have shape [6] (one per filter), got [1, 6] (input [1, 2, 5, 5], weight [6, 2, 3, 3], bias [1, 6])");
    }

    [TestCaseSource(nameof(BadArguments))]
    public void BadArgument_ThrowsArgumentExceptionNamingOpAndShapes(
        int[] xShape, int[] wShape, int[]? bShape, Func<Tensor<double>, Tensor<double>, Tensor<double>?, Tensor<double>> call, string expected)
    {
        var x = Tensor.Zeros<double>(xShape);
        var w = Tensor.Zeros<double>(wShape);
        var b = bShape is null ? null : Tensor.Zeros<double>(bShape);
        var e = Assert.Throws<ArgumentException>(() => call(x, w, b))!;
        Assert.That(e.Message, Does.Contain(expected));
        Assert.That(e.Message, Does.StartWith("Conv2d: "));
    }

    [Test]
    public void RandomArguments_NeverThrowAnythingButArgumentException()
    {
        // Fuzz: sizes, strides, paddings, dilations and groups around and below the valid range.
        var g = new Generator(19);
        int R(int lo, int hi) => lo + g.NextInt(hi - lo + 1);
        for (var i = 0; i < 3000; i++)
        {
            int[] xShape = g.NextInt(8) == 0 ? [R(1, 3), R(1, 4), R(1, 4)] : [R(0, 2), R(1, 4), R(1, 5), R(1, 5)];
            int[] wShape = g.NextInt(10) == 0 ? [R(1, 3), R(1, 2), R(1, 3)] : [R(1, 4), R(1, 3), R(0, 4), R(0, 4)];
            var x = Tensor.Zeros<double>(xShape);
            var w = Tensor.Zeros<double>(wShape);
            var b = g.NextInt(2) == 0 ? null : Tensor.Zeros<double>(R(0, 4));
            Padding2d p = g.NextInt(5) switch
            {
                0 => "same",
                1 => "valid",
                _ => (R(-1, 3), R(-1, 3)),
            };
            try
            {
                var y = x.Conv2d(w, b, (R(-1, 3), R(0, 3)), p, (R(0, 3), R(-1, 3)), R(0, 3));
                // A call that was accepted keeps the batch, has one channel per filter and a non-empty plane.
                Assert.That(y.Rank, Is.EqualTo(xShape.Length));
                Assert.That(y.Shape[^3], Is.EqualTo(wShape[0]));
                Assert.That(y.Shape[..^3], Is.EqualTo(xShape[..^3]));
                Assert.That(y.Shape[^2..], Is.All.GreaterThanOrEqualTo(1));
            }
            catch (ArgumentException e)
            {
                Assert.That(e.Message, Does.StartWith("Conv2d: "));
            }
        }
    }

    [Test]
    public void InPlaceChangeOfASavedInput_IsReportedAtBackward()
    {
        var x = Tensor.Ones<double>(1, 1, 3, 3);
        var w = Tensor.Full([1, 1, 2, 2], 1.0, requiresGrad: true);
        var y = x.Conv2d(w);
        x.FillInPlace(2.0);
        var e = Assert.Throws<SavedTensorModifiedException>(() => y.Sum().Backward())!;
        Assert.That(e.Message, Does.Contain("[1, 1, 3, 3] that 'Conv2d'").And.Contain("modified in place"));
    }

    // ---- The window view ----

    [Test]
    public void WindowView_IsTheAsStridedViewOfWindows()
    {
        // view[n, c, oh, ow, kh, kw] = x[n, c, oh·sH + kh·dH, ow·sW + kw·dW]
        var x = Tensor.Arange(0.0, 2 * 3 * 9 * 8, 1.0).Reshape(2, 3, 9, 8).Transpose(2, 3);  // [2, 3, 8, 9], strided
        var kernel = new Size2(3, 2);
        var stride = new Size2(2, 3);
        var dilation = new Size2(2, 1);
        var v = Window.View(x, kernel, stride, dilation);
        Assert.That(v.Shape, Is.EqualTo(new[] { 2, 3, 2, 3, 3, 2 }));
        var (shape, strides) = Window.Geometry(x.Shape, x.Strides, kernel, stride, dilation);
        Assert.That(x.AsStrided(shape, strides).ToArray(), Is.EqualTo(v.ToArray()));
        for (var oh = 0; oh < 2; oh++)
        {
            for (var ow = 0; ow < 3; ow++)
            {
                for (var kh = 0; kh < 3; kh++)
                {
                    for (var kw = 0; kw < 2; kw++)
                    {
                        Assert.That(v.At(1, 2, oh, ow, kh, kw), Is.EqualTo(x.At(1, 2, oh * 2 + kh * 2, ow * 3 + kw)));
                    }
                }
            }
        }
    }

    [Test]
    public void WindowPackAndScatterAdd_AreAdjoint()
    {
        // ⟨Pack(x), c⟩ = ⟨x, ScatterAdd(c)⟩ for every x and c: col2im is the transpose of im2col,
        // which holds only if overlapping windows accumulate.
        var g = new Generator(20);
        var x = Tensor.Randn<double>([2, 4, 7, 6], g);
        var (kernel, stride, dilation) = (new Size2(3, 2), new Size2(1, 2), new Size2(2, 1));
        var windows = Window.View(x, kernel, stride, dilation);
        var (oh, ow) = (windows.Shape[2], windows.Shape[3]);
        var rows = 3 * kernel.H * kernel.W;
        var cols = new double[rows * oh * ow];
        Window.Pack(windows, 1, 1, 3, cols, 0);
        var c = Tensor.Randn<double>([rows * oh * ow], g).ToArray();
        var lhs = cols.Zip(c, (p, q) => p * q).Sum();

        var dx = Tensor.Zeros<double>(2, 4, 7, 6);
        Window.ScatterAdd(Window.View(dx, kernel, stride, dilation), 1, 1, 3, c, 0);
        var rhs = x.ToArray().Zip(dx.ToArray(), (p, q) => p * q).Sum();
        Assert.That(lhs, Is.EqualTo(rhs).Within(1e-10));

        // With stride 1 and a 3-tall kernel, an interior element sits in three windows vertically.
        var ones = Tensor.Zeros<double>(1, 1, 5, 1);
        var ow1 = Window.View(ones, new Size2(3, 1), 1, 1);
        Window.ScatterAdd(ow1, 0, 0, 1, Enumerable.Repeat(1.0, 3 * 3).ToArray(), 0);
        Assert.That(ones.ToArray(), Is.EqualTo(new double[] { 1, 2, 3, 2, 1 }));
    }

    [Test]
    public void ConvColumns_AreTheWindowViewOfThePaddedInput_BlockByBlock()
    {
        // ConvColumns packs and scatters without a padded copy; the reference is the plain window view
        // of a padded copy (Window.Pad, View, Pack, ScatterAdd, Interior). Random geometries, blocks of
        // output positions starting anywhere, contiguous and transposed inputs.
        var g = new Generator(41);
        foreach (var cfg in RandomConfigs(80, 43))
        {
            var (top, bottom, left, right) = cfg.Pads;
            var geometry = new ConvGeometry(
                cfg.N, cfg.C, cfg.H, cfg.W, cfg.F, cfg.Groups, cfg.KH, cfg.KW, new Size2(cfg.Stride.H, cfg.Stride.W), new Size2(cfg.Dilation.H, cfg.Dilation.W),
                top, bottom, left, right, cfg.OH, cfg.OW);
            var transposed = g.NextInt(2) == 0;
            var x = transposed
                ? Tensor.Randn<double>([cfg.N, cfg.C, cfg.W, cfg.H], g).Transpose(2, 3)
                : Tensor.Randn<double>([cfg.N, cfg.C, cfg.H, cfg.W], g);
            var windows = Window.View(Window.Pad(x, top, bottom, left, right, 0.0), new Size2(cfg.KH, cfg.KW), new Size2(cfg.Stride.H, cfg.Stride.W), new Size2(cfg.Dilation.H, cfg.Dilation.W));
            windows = windows.ViewOf([cfg.N, cfg.C, cfg.OH, cfg.OW, cfg.KH, cfg.KW], windows.Strides.ToArray(), windows.Offset);
            var (n, group) = (g.NextInt(cfg.N), g.NextInt(cfg.Groups));
            var (cg, k, p) = (cfg.C / cfg.Groups, geometry.K, geometry.P);
            var expected = new double[k * p];
            Window.Pack(windows, n, group * cg, cg, expected, 0);

            var p0 = g.NextInt(p);
            var count = 1 + g.NextInt(p - p0);
            var block = Enumerable.Repeat(double.NaN, k * count).ToArray();
            var s = x.Strides.ToArray();
            ConvColumns.Pack<double>(x.Storage.Span, x.Offset + n * s[0] + group * cg * s[1], s[1], s[2], s[3], geometry, p0, count, block);
            for (var r = 0; r < k; r++)
            {
                Assert.That(block.AsSpan(r * count, count).ToArray(), Is.EqualTo(expected.AsSpan(r * p + p0, count).ToArray()), $"{cfg} row {r}, block {p0}+{count}");
            }

            // Scatter: the same block of column gradients into zeros, against a padded buffer's interior.
            var dcols = Tensor.Randn<double>([k * count], g).ToArray();
            var full = new double[k * p];
            for (var r = 0; r < k; r++)
            {
                dcols.AsSpan(r * count, count).CopyTo(full.AsSpan(r * p + p0, count));
            }

            var padded = Tensor.Zeros<double>(cfg.N, cfg.C, cfg.H + top + bottom, cfg.W + left + right);
            var paddedWindows = Window.View(padded, new Size2(cfg.KH, cfg.KW), new Size2(cfg.Stride.H, cfg.Stride.W), new Size2(cfg.Dilation.H, cfg.Dilation.W));
            paddedWindows = paddedWindows.ViewOf([cfg.N, cfg.C, cfg.OH, cfg.OW, cfg.KH, cfg.KW], paddedWindows.Strides.ToArray(), paddedWindows.Offset);
            Window.ScatterAdd(paddedWindows, n, group * cg, cg, full, 0);
            var dx = new double[cfg.N * cfg.C * cfg.H * cfg.W];
            ConvColumns.ScatterAdd<double>(dx, (n * cfg.C + group * cg) * cfg.H * cfg.W, cfg.H * cfg.W, cfg.W, 1, geometry, p0, count, dcols);
            Assert.That(dx, Is.EqualTo(Window.Interior(padded, top, left, cfg.H, cfg.W).ToArray()), $"{cfg} scatter, block {p0}+{count}");
        }
    }

    [Test]
    public void WindowPad_AndInterior_RoundTrip()
    {
        var x = Tensor.Arange(1.0, 13.0, 1.0).Reshape(1, 2, 2, 3);
        var p = Window.Pad(x, 1, 2, 0, 1, double.NegativeInfinity);
        Assert.That(p.Shape, Is.EqualTo(new[] { 1, 2, 5, 4 }));
        Assert.That(p.At(0, 0, 0, 0), Is.EqualTo(double.NegativeInfinity));
        Assert.That(p.At(0, 1, 1, 0), Is.EqualTo(7.0));
        Assert.That(Window.Interior(p, 1, 0, 2, 3).ToArray(), Is.EqualTo(x.ToArray()));
    }

    // ---- Reference loops ----

    internal sealed record Config(
        int N, int Groups, int C, int F, int H, int W, int KH, int KW,
        (int H, int W) Stride, (int H, int W) Dilation, (int H, int W) Pad, bool Same)
    {
        public (int Top, int Bottom, int Left, int Right)? PadOverride { get; init; }

        public (int Top, int Bottom, int Left, int Right) Pads => PadOverride ?? (Same
            ? (Dilation.H * (KH - 1) / 2, Dilation.H * (KH - 1) - Dilation.H * (KH - 1) / 2, Dilation.W * (KW - 1) / 2, Dilation.W * (KW - 1) - Dilation.W * (KW - 1) / 2)
            : (Pad.H, Pad.H, Pad.W, Pad.W));

        public Padding2d Padding => Same ? "same" : Pad;

        public int OH => Out(H + Pads.Top + Pads.Bottom, KH, Stride.H, Dilation.H);

        public int OW => Out(W + Pads.Left + Pads.Right, KW, Stride.W, Dilation.W);

        private static int Out(int size, int k, int s, int d) => size - d * (k - 1) - 1 < 0 ? 0 : (size - d * (k - 1) - 1) / s + 1;
    }

    /// <summary>Y[n, f, i, j] = b[f] + Σ_{c, kh, kw} X[n, g·Cg + c, i·sH − pT + kh·dH, j·sW − pL + kw·dW] · W[f, c, kh, kw] (zero outside X).</summary>
    internal static double[] Direct(Config cfg, double[] x, double[] w, double[]? b)
    {
        var (cg, fg) = (cfg.C / cfg.Groups, cfg.F / cfg.Groups);
        var (top, _, left, _) = cfg.Pads;
        var y = new double[cfg.N * cfg.F * cfg.OH * cfg.OW];
        var o = 0;
        for (var n = 0; n < cfg.N; n++)
        {
            for (var f = 0; f < cfg.F; f++)
            {
                for (var i = 0; i < cfg.OH; i++)
                {
                    for (var j = 0; j < cfg.OW; j++)
                    {
                        var sum = b?[f] ?? 0;
                        for (var c = 0; c < cg; c++)
                        {
                            var ci = f / fg * cg + c;
                            for (var kh = 0; kh < cfg.KH; kh++)
                            {
                                var hi = i * cfg.Stride.H - top + kh * cfg.Dilation.H;
                                for (var kw = 0; kw < cfg.KW; kw++)
                                {
                                    var wi = j * cfg.Stride.W - left + kw * cfg.Dilation.W;
                                    if (hi >= 0 && hi < cfg.H && wi >= 0 && wi < cfg.W)
                                    {
                                        sum += x[((n * cfg.C + ci) * cfg.H + hi) * cfg.W + wi] * w[((f * cg + c) * cfg.KH + kh) * cfg.KW + kw];
                                    }
                                }
                            }
                        }

                        y[o++] = sum;
                    }
                }
            }
        }

        return y;
    }

    /// <summary>The same sum read backwards: every product x·w sends dY·w to dX and dY·x to dW; db = Σ dY.</summary>
    internal static (double[] DX, double[] DW, double[] DB) DirectBackward(Config cfg, double[] x, double[] w, double[] dy)
    {
        var (cg, fg) = (cfg.C / cfg.Groups, cfg.F / cfg.Groups);
        var (top, _, left, _) = cfg.Pads;
        var dx = new double[x.Length];
        var dw = new double[w.Length];
        var db = new double[cfg.F];
        var o = 0;
        for (var n = 0; n < cfg.N; n++)
        {
            for (var f = 0; f < cfg.F; f++)
            {
                for (var i = 0; i < cfg.OH; i++)
                {
                    for (var j = 0; j < cfg.OW; j++)
                    {
                        var d = dy[o++];
                        db[f] += d;
                        for (var c = 0; c < cg; c++)
                        {
                            var ci = f / fg * cg + c;
                            for (var kh = 0; kh < cfg.KH; kh++)
                            {
                                var hi = i * cfg.Stride.H - top + kh * cfg.Dilation.H;
                                for (var kw = 0; kw < cfg.KW; kw++)
                                {
                                    var wi = j * cfg.Stride.W - left + kw * cfg.Dilation.W;
                                    if (hi >= 0 && hi < cfg.H && wi >= 0 && wi < cfg.W)
                                    {
                                        var xAt = ((n * cfg.C + ci) * cfg.H + hi) * cfg.W + wi;
                                        var wAt = ((f * cg + c) * cfg.KH + kh) * cfg.KW + kw;
                                        dx[xAt] += d * w[wAt];
                                        dw[wAt] += d * x[xAt];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        return (dx, dw, db);
    }

    private static double[,,,] To4(Tensor<double> t)
    {
        var s = t.Shape;
        var data = t.ToArray();
        var r = new double[s[0], s[1], s[2], s[3]];
        Buffer.BlockCopy(data, 0, r, 0, data.Length * sizeof(double));
        return r;
    }

    private static double[] Flat(double[,,,] a)
    {
        var r = new double[a.Length];
        Buffer.BlockCopy(a, 0, r, 0, a.Length * sizeof(double));
        return r;
    }
}
