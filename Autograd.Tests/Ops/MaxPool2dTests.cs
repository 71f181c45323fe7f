using Autograd;
using Autograd.Kernels;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Ops;

public class MaxPool2dTests
{
    /// <summary>
    /// Batch, channels, spatial size, kernel, stride (sh = 0: the default, stride = kernel), padding up to
    /// half the kernel, dilation, ceil mode, unbatched input, and a view kind. Cases where some window
    /// has no tap inside the input are left out: their −∞ output has no finite difference.
    /// </summary>
    private static CaseSpec Spec() => new CaseSpec()
        .Int("n", 1, 2).Int("c", 1, 2).Int("h", 1, 6).Int("w", 1, 6)
        .Int("kh", 1, 3).Int("kw", 1, 3).Int("sh", 0, 3).Int("sw", 1, 3)
        .Int("ph", 0, 1).Int("pw", 0, 1).Int("dh", 1, 2).Int("dw", 1, 2)
        .Int("ceil", 0, 1).Int("unbatched", 0, 1)
        .Views(1)
        .Where(c => c["ph"] <= c["kh"] / 2 && c["pw"] <= c["kw"] / 2)
        .Where(c =>
        {
            var (s, _) = StrideOf(c);
            return WindowsAreNonEmpty(c["h"], c["kh"], s.H, c["ph"], c["dh"], c["ceil"] == 1)
                && WindowsAreNonEmpty(c["w"], c["kw"], s.W, c["pw"], c["dw"], c["ceil"] == 1);
        });

    private static (Size2 Value, Size2? Argument) StrideOf(Case c) =>
        c["sh"] == 0 ? (new Size2(c["kh"], c["kw"]), null) : (new Size2(c["sh"], c["sw"]), new Size2(c["sh"], c["sw"]));

    /// <summary>PyTorch's output size, written out as its pooling_output_shape reads.</summary>
    private static int TorchOutputSize(int input, int k, int s, int p, int d, bool ceil)
    {
        var numerator = input + 2 * p - d * (k - 1) - 1 + (ceil ? s - 1 : 0);
        var o = (int)Math.Floor(numerator / (double)s) + 1;
        if (ceil && (o - 1) * s >= input + p)
        {
            o--;
        }

        return o;
    }

    private static bool WindowsAreNonEmpty(int input, int k, int s, int p, int d, bool ceil)
    {
        var o = TorchOutputSize(input, k, s, p, d, ceil);
        if (o < 1)
        {
            return false;
        }

        for (var i = 0; i < o; i++)
        {
            if (!Enumerable.Range(0, k).Any(t => i * s - p + t * d is var at && at >= 0 && at < input))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Overwrites a leaf with a random permutation of values spaced 0.1 apart (then scaled), so no two
    /// elements tie within a finite-difference step and the max never switches under perturbation.
    /// </summary>
    private static Tensor<double> Distinct(Tensor<double> leaf, Generator g, double scale)
    {
        var data = leaf.Storage.Span;
        var order = Enumerable.Range(0, data.Length).ToArray();
        for (var i = order.Length - 1; i > 0; i--)
        {
            var j = g.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }

        for (var i = 0; i < data.Length; i++)
        {
            data[i] = scale * 0.1 * (order[i] - data.Length / 2.0);
        }

        return leaf;
    }

    [Test]
    [Category("GradProperty")]
    public void MaxPool2d_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            Spec(),
            c =>
            {
                int[] shape = c["unbatched"] == 1 ? [c["c"], c["h"], c["w"]] : [c["n"], c["c"], c["h"], c["w"]];
                var g = c.Generator();
                var (x, view) = Inputs.Make(shape, c.View(0), g);
                Distinct(x, g, 1 + g.NextDouble());
                var kernel = new Size2(c["kh"], c["kw"]);
                var (_, stride) = StrideOf(c);
                var padding = new Size2(c["ph"], c["pw"]);
                var dilation = new Size2(c["dh"], c["dw"]);
                var ceil = c["ceil"] == 1;
                return GradCheck.Check(t => view(t[0]).MaxPool2d(kernel, stride, padding, dilation, ceil), [x]);
            },
            maxTest: 100);

    // ---- Seed 002 ----

    [Test]
    public void Seed002_MaxPoolWithMinusLogLoss_MatchesPyTorch()
    {
        // Z = [[1,2,3],[4,10,5],[11,12,13]], kernel 2, stride 1 ⇒ A = [[10,10],[12,13]].
        // loss = Σ −log A ⇒ dL/dA = −1/A = [[−0.1, −0.1], [−1/12, −1/13]]; both top windows pick the 10,
        // so its gradient is −0.1 − 0.1 = −0.2:
        // dZ = [[0,0,0],[0,−0.2,0],[0,−1/12,−1/13]].
        var z = Tensor.FromArray(new double[] { 1, 2, 3, 4, 10, 5, 11, 12, 13 }, [1, 1, 3, 3], requiresGrad: true);
        var a = z.MaxPool2d(2, stride: 1);
        Assert.That(a.Shape, Is.EqualTo(new[] { 1, 1, 2, 2 }));
        Assert.That(a.ToArray(), Is.EqualTo(new double[] { 10, 10, 12, 13 }));
        var loss = a.Log().Neg().Sum();
        loss.Backward();
        Assert.That(z.Grad!.ToArray(), Is.EqualTo(new[] { 0, 0, 0, 0, -0.2, 0, 0, -1.0 / 12, -1.0 / 13 }).Within(1e-15));
    }

    // ---- Forward against a direct loop ----

    private static IEnumerable<(int N, int C, int H, int W, Size2 K, Size2 S, Size2 P, Size2 D, bool Ceil)> RandomConfigs(int count, int seed)
    {
        var g = new Generator((ulong)seed);
        var made = 0;
        while (made < count)
        {
            var k = new Size2(1 + g.NextInt(4), 1 + g.NextInt(4));
            var cfg = (
                N: 1 + g.NextInt(3), C: 1 + g.NextInt(3), H: 1 + g.NextInt(10), W: 1 + g.NextInt(10), K: k,
                S: new Size2(1 + g.NextInt(4), 1 + g.NextInt(4)),
                P: new Size2(g.NextInt(k.H / 2 + 1), g.NextInt(k.W / 2 + 1)),
                D: new Size2(1 + g.NextInt(3), 1 + g.NextInt(3)),
                Ceil: g.NextInt(2) == 1);
            if (WindowsAreNonEmpty(cfg.H, k.H, cfg.S.H, cfg.P.H, cfg.D.H, cfg.Ceil)
                && WindowsAreNonEmpty(cfg.W, k.W, cfg.S.W, cfg.P.W, cfg.D.W, cfg.Ceil))
            {
                made++;
                yield return cfg;
            }
        }
    }

    /// <summary>max over window taps inside the input, first maximum in row-major window order; its flat index.</summary>
    private static (double[] Y, int[] Arg, int OH, int OW) Direct(double[] x, int n, int c, int h, int w, Size2 k, Size2 s, Size2 p, Size2 d, bool ceil)
    {
        int oh = TorchOutputSize(h, k.H, s.H, p.H, d.H, ceil), ow = TorchOutputSize(w, k.W, s.W, p.W, d.W, ceil);
        var y = new double[n * c * oh * ow];
        var arg = new int[y.Length];
        var o = 0;
        for (var plane = 0; plane < n * c; plane++)
        {
            for (var i = 0; i < oh; i++)
            {
                for (var j = 0; j < ow; j++, o++)
                {
                    var (best, at) = (double.NegativeInfinity, -1);
                    for (var kh = 0; kh < k.H; kh++)
                    {
                        for (var kw = 0; kw < k.W; kw++)
                        {
                            int hi = i * s.H - p.H + kh * d.H, wi = j * s.W - p.W + kw * d.W;
                            if (hi < 0 || hi >= h || wi < 0 || wi >= w)
                            {
                                continue;
                            }

                            var idx = (plane * h + hi) * w + wi;
                            // PyTorch's rule: strictly greater, or NaN (a later NaN wins over an earlier one).
                            if (at < 0 || x[idx] > best || double.IsNaN(x[idx]))
                            {
                                (best, at) = (x[idx], idx);
                            }
                        }
                    }

                    (y[o], arg[o]) = (best, at);
                }
            }
        }

        return (y, arg, oh, ow);
    }

    [Test]
    public void Forward_MatchesDirectPooling_Double()
    {
        var g = new Generator(21);
        foreach (var cfg in RandomConfigs(80, 1))
        {
            // Small integers: plenty of ties, so the first-maximum rule is exercised as well.
            var x = Tensor.FromArray(Enumerable.Range(0, cfg.N * cfg.C * cfg.H * cfg.W).Select(_ => (double)g.NextInt(5)).ToArray(), [cfg.N, cfg.C, cfg.H, cfg.W], requiresGrad: true);
            var y = x.MaxPool2d(cfg.K, cfg.S, cfg.P, cfg.D, cfg.Ceil);
            var (ey, arg, oh, ow) = Direct(x.ToArray(), cfg.N, cfg.C, cfg.H, cfg.W, cfg.K, cfg.S, cfg.P, cfg.D, cfg.Ceil);
            Assert.That(y.Shape, Is.EqualTo(new[] { cfg.N, cfg.C, oh, ow }), cfg.ToString());
            Assert.That(y.ToArray(), Is.EqualTo(ey), cfg.ToString());

            // Backward routes each upstream gradient to the argmax: dX = Σ_o dY[o]·e_{argmax[o]}.
            var dy = Tensor.Randn<double>(y.Shape, g);
            y.Backward(dy);
            var dx = new double[x.Numel];
            var dys = dy.ToArray();
            for (var o = 0; o < arg.Length; o++)
            {
                dx[arg[o]] += dys[o];
            }

            Assert.That(x.Grad!.ToArray(), Is.EqualTo(dx).Within(1e-12), cfg.ToString());
        }
    }

    [Test]
    [NonParallelizable] // Sets the kernels' width switch.
    public void Forward_MatchesDirectPooling_FloatAndStridedInput([Values] bool force256) =>
        KernelWidth.Run(force256, ForwardFloatAndStridedInput);

    private static void ForwardFloatAndStridedInput()
    {
        var g = new Generator(22);
        foreach (var cfg in RandomConfigs(40, 2))
        {
            // The input is a transposed view: the kernel reads through any strides.
            var leaf = Tensor.Randn<float>([cfg.N, cfg.C, cfg.W, cfg.H], g);
            var x = leaf.Transpose(2, 3);
            var y = x.MaxPool2d(cfg.K, cfg.S, cfg.P, cfg.D, cfg.Ceil);
            var (ey, _, _, _) = Direct([.. x.ToArray().Select(v => (double)v)], cfg.N, cfg.C, cfg.H, cfg.W, cfg.K, cfg.S, cfg.P, cfg.D, cfg.Ceil);
            Assert.That(y.ToArray().Select(v => (double)v), Is.EqualTo(ey), cfg.ToString());
        }
    }

    /// <summary>At both of the kernels' vector widths (the widest here, and 256 bits as without AVX-512).</summary>
    [Test]
    [NonParallelizable] // Turns on the pool's process-wide poison (an element the backward fails to write reads NaN) and sets the kernels' width switch.
    public void TwoByTwoStrideTwo_Float_MatchesDirectPooling_WithTiesNaNAndInfinities([Values] bool force256)
    {
        var poison = BufferPool.Poison;
        BufferPool.Poison = true;
        try
        {
            // The second round's buffers come back from the pool, poisoned by the first round's release.
            KernelWidth.Run(force256, TwoByTwoStrideTwo);
            GC.Collect();
            BufferPool.Reclaim();
            KernelWidth.Run(force256, TwoByTwoStrideTwo);
        }
        finally
        {
            BufferPool.Poison = poison;
        }
    }

    private static void TwoByTwoStrideTwo()
    {
        // Float 2×2 windows at stride 2 over unit-stride rows take the vector paths (8 windows at a time, or 4
        // for rows of 4 to 7 windows): widths
        // with whole blocks and a tail, odd sizes (the last row, the last column or both dropped), a narrowed input (rows
        // further apart than their length), and values with ties, NaN and ±∞.
        var g = new Generator(23);
        foreach (var (h, w, narrow) in new[] { (28, 28, 0), (10, 10, 0), (7, 37, 0), (16, 40, 3), (2, 16, 0), (5, 3, 1), (9, 13, 2), (4, 8, 0), (7, 16, 0), (9, 12, 1), (6, 17, 0) })
        {
            var full = Tensor.FromArray(
                Enumerable.Range(0, 2 * 3 * h * (w + narrow)).Select(_ => g.NextInt(40) switch
                {
                    0 => float.NaN,
                    1 => float.NegativeInfinity,
                    2 => float.PositiveInfinity,
                    var k => (float)(k % 4),
                }).ToArray(),
                [2, 3, h, w + narrow]);
            var leaf = full.Narrow(3, narrow, w).Detach();
            leaf.RequiresGrad = true;
            var y = leaf.MaxPool2d(2);
            var (ey, arg, oh, ow) = Direct([.. leaf.ToArray().Select(v => (double)v)], 2, 3, h, w, new Size2(2, 2), new Size2(2, 2), new Size2(0, 0), new Size2(1, 1), false);
            Assert.That(y.Shape, Is.EqualTo(new[] { 2, 3, oh, ow }));
            Assert.That(y.ToArray().Select(v => (double)v), Is.EqualTo(ey), $"{h}×{w}, narrowed by {narrow}");

            var dy = Tensor.Randn<float>(y.Shape, g);
            y.Backward(dy);
            var dx = new double[leaf.Numel];
            var dys = dy.ToArray();
            for (var o = 0; o < arg.Length; o++)
            {
                dx[arg[o]] += dys[o];
            }

            Assert.That(leaf.Grad!.ToArray().Select(v => (double)v), Is.EqualTo(dx).Within(1e-6), $"{h}×{w}, narrowed by {narrow}: routing");

            // Sum's gradient reaches the backward as an expanded (stride-0) dY.
            var again = full.Narrow(3, narrow, w).Detach();
            again.RequiresGrad = true;
            again.MaxPool2d(2).Sum().Backward();
            var ones = new double[again.Numel];
            foreach (var o in arg)
            {
                ones[o] += 1;
            }

            Assert.That(again.Grad!.ToArray().Select(v => (double)v), Is.EqualTo(ones), $"{h}×{w}, narrowed by {narrow}: routing an expanded dY");
        }
    }

    [Test]
    public void LargeInput_TakesTheParallelPath_AndAgrees()
    {
        var g = new Generator(23);
        var x = Tensor.Randn<double>([4, 16, 48, 48], g, requiresGrad: true);
        var y = x.MaxPool2d(3, stride: 2, padding: 1);
        var (ey, arg, _, _) = Direct(x.ToArray(), 4, 16, 48, 48, 3, 2, 1, 1, false);
        Assert.That(y.ToArray(), Is.EqualTo(ey));
        var dy = Tensor.Randn<double>(y.Shape, g);
        y.Backward(dy);
        var dx = new double[x.Numel];
        var dys = dy.ToArray();
        for (var o = 0; o < arg.Length; o++)
        {
            dx[arg[o]] += dys[o];
        }

        Assert.That(x.Grad!.ToArray(), Is.EqualTo(dx).Within(1e-12));
    }

    // ---- Ties, overlap, NaN ----

    [Test]
    public void Ties_GoToTheFirstMaximumInRowMajorWindowOrder()
    {
        // All equal: every window's argmax is its top-left tap. 3×3 ones, kernel 2, stride 1: windows
        // start at (0,0), (0,1), (1,0), (1,1), so those four elements get one gradient each.
        var ones = Tensor.Full([1, 1, 3, 3], 1.0, requiresGrad: true);
        ones.MaxPool2d(2, stride: 1).Sum().Backward();
        Assert.That(ones.Grad!.ToArray(), Is.EqualTo(new double[] { 1, 1, 0, 1, 1, 0, 0, 0, 0 }));

        // [[0, 5], [5, 1]]: the 5 at (0, 1) comes before the 5 at (1, 0).
        var x = Tensor.FromArray(new double[] { 0, 5, 5, 1 }, [1, 1, 2, 2], requiresGrad: true);
        x.MaxPool2d(2).Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new double[] { 0, 1, 0, 0 }));

        // With padding the first tap inside the input counts first (padding is −∞, never a maximum).
        var m = Tensor.Full([1, 1, 2, 2], -3.0, requiresGrad: true);
        var y = m.MaxPool2d(2, stride: 2, padding: 1);   // windows of one real tap each
        Assert.That(y.ToArray(), Is.EqualTo(new double[] { -3, -3, -3, -3 }));
        y.Sum().Backward();
        Assert.That(m.Grad!.ToArray(), Is.EqualTo(new double[] { 1, 1, 1, 1 }));
    }

    [Test]
    public void OverlappingWindows_AccumulateAtASharedArgmax()
    {
        // One large element in a 5×5 plane; kernel 3, stride 1: it is the max of every window holding it.
        var data = new double[25];
        data[12] = 10;   // centre: in all 9 windows
        data[0] = 5;     // corner: in 1 window, but that window also holds the centre
        var x = Tensor.FromArray(data, [1, 1, 5, 5], requiresGrad: true);
        x.MaxPool2d(3, stride: 1).Sum().Backward();
        var expected = new double[25];
        expected[12] = 9;
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(expected));
    }

    [Test]
    public void NaN_Propagates_AsInPyTorch()
    {
        var x = Tensor.FromArray(new[] { 1.0, double.NaN, 3.0, 2.0 }, [1, 1, 2, 2]);
        Assert.That(double.IsNaN(x.MaxPool2d(2).Item()), Is.True);
    }

    // ---- Output sizes ----

    [TestCase(5, 2, 2, 0, 1, false, 2)]
    [TestCase(5, 2, 2, 0, 1, true, 3)]     // the last window starts at 4, inside the input
    [TestCase(6, 3, 2, 1, 1, false, 3)]
    [TestCase(6, 3, 2, 1, 1, true, 4)]
    [TestCase(5, 3, 3, 1, 1, false, 2)]
    [TestCase(5, 3, 3, 1, 1, true, 2)]     // rounding up gives 3, but that window would start at 6 ≥ 5 + 1: dropped
    [TestCase(7, 3, 2, 0, 2, false, 2)]
    [TestCase(7, 3, 2, 0, 2, true, 2)]
    [TestCase(8, 3, 2, 0, 2, true, 3)]
    [TestCase(1, 1, 3, 0, 1, true, 1)]
    [TestCase(11, 4, 3, 2, 1, true, 5)]
    [TestCase(10, 4, 3, 2, 1, true, 4)]    // 5 rounded up, but the fifth window would start at 12 − 2 = 10 ≥ 10
    public void CeilMode_OutputSize_FollowsPyTorch(int input, int k, int s, int p, int d, bool ceil, int expected)
    {
        Assert.That(PoolingShape.OutputSize(input, k, s, p, d, ceil), Is.EqualTo(expected));
        Assert.That(TorchOutputSize(input, k, s, p, d, ceil), Is.EqualTo(expected));
        var x = Tensor.Zeros<double>(1, 1, input, 3);
        Assert.That(x.MaxPool2d((k, 1), stride: (s, 1), padding: (p, 0), dilation: (d, 1), ceilMode: ceil).Shape[2], Is.EqualTo(expected));
    }

    [Test]
    public void OutputSize_MatchesPyTorchFormula_Exhaustively()
    {
        for (var input = 1; input <= 12; input++)
        {
            for (var k = 1; k <= 5; k++)
            {
                for (var s = 1; s <= 4; s++)
                {
                    for (var p = 0; p <= k / 2; p++)
                    {
                        for (var d = 1; d <= 3; d++)
                        {
                            foreach (var ceil in new[] { false, true })
                            {
                                var expected = TorchOutputSize(input, k, s, p, d, ceil);
                                // Sizes below 1 are "too small" either way; ours stop at 0 instead of going negative.
                                Assert.That(PoolingShape.OutputSize(input, k, s, p, d, ceil), Is.EqualTo(Math.Max(expected, 0)));
                                if (ceil && expected >= 1)
                                {
                                    // Every window starts inside the input or its left padding.
                                    Assert.That((expected - 1) * s - p, Is.LessThan(input));
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    [Test]
    public void DefaultStride_IsTheKernel_AndUnbatchedInputIsABatchOfOne()
    {
        var g = new Generator(24);
        var x = Tensor.Randn<double>([3, 7, 8], g);
        var y = x.MaxPool2d((2, 3));
        Assert.That(y.Shape, Is.EqualTo(new[] { 3, 3, 2 }));
        Assert.That(y.ToArray(), Is.EqualTo(x.Reshape(1, 3, 7, 8).MaxPool2d((2, 3), stride: (2, 3)).ToArray()));
    }

    // ---- Argument errors ----

    private static IEnumerable<TestCaseData> BadArguments()
    {
        static TestCaseData Case(string name, int[] x, Func<Tensor<double>, Tensor<double>> call, string expected) =>
            new TestCaseData(x, call, expected).SetName("MaxPool2d_Rejects_" + name);

        yield return Case("InputRank2", [5, 5], x => x.MaxPool2d(2),
            "MaxPool2d: input must be 4-D [N, C, H, W] or 3-D [C, H, W], got rank 2 (input [5, 5], kernel (2, 2), stride (2, 2), padding (0, 0), dilation (1, 1), ceilMode false)");
        yield return Case("InputRank5", [1, 1, 1, 5, 5], x => x.MaxPool2d(2), "got rank 5 (input [1, 1, 1, 5, 5]");
        yield return Case("ZeroKernel", [1, 1, 5, 5], x => x.MaxPool2d((0, 2)),
            "MaxPool2d: kernel size must be positive, got (0, 2) (input [1, 1, 5, 5], kernel (0, 2)");
        yield return Case("ZeroStride", [1, 1, 5, 5], x => x.MaxPool2d(2, stride: (1, 0)),
            "MaxPool2d: stride must be positive, got (1, 0) (input [1, 1, 5, 5], kernel (2, 2), stride (1, 0)");
        yield return Case("NegativeDilation", [1, 1, 5, 5], x => x.MaxPool2d(2, dilation: -1),
            "MaxPool2d: dilation must be positive, got (-1, -1) (input [1, 1, 5, 5]");
        yield return Case("NegativePadding", [1, 1, 5, 5], x => x.MaxPool2d(2, padding: (-1, 0)),
            "MaxPool2d: padding must be non-negative, got (-1, 0) (input [1, 1, 5, 5]");
        yield return Case("PaddingAboveHalfKernel", [1, 1, 5, 5], x => x.MaxPool2d(3, padding: 2),
            "MaxPool2d: padding (2, 2) must be at most half the kernel size (3, 3) (input [1, 1, 5, 5], kernel (3, 3), stride (3, 3), padding (2, 2)");
        yield return Case("OutputTooSmall", [1, 1, 1, 4], x => x.MaxPool2d(2),
            "MaxPool2d: output size (0, 2) is too small (input [1, 1, 1, 4], kernel (2, 2), stride (2, 2), padding (0, 0), dilation (1, 1), ceilMode false)");
        yield return Case("OutputTooSmallByDilation", [2, 4, 4], x => x.MaxPool2d(2, dilation: 4),
            "MaxPool2d: output size (0, 0) is too small (input [2, 4, 4], kernel (2, 2)");
        yield return Case("EmptyPlane", [1, 0, 4, 4], x => x.MaxPool2d(2),
            "MaxPool2d: channels and spatial size must be positive (input [1, 0, 4, 4]");
    }

    [TestCaseSource(nameof(BadArguments))]
    public void BadArgument_ThrowsArgumentExceptionNamingOpAndShapes(int[] shape, Func<Tensor<double>, Tensor<double>> call, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => call(Tensor.Zeros<double>(shape)))!;
        Assert.That(e.Message, Does.Contain(expected));
        Assert.That(e.Message, Does.StartWith("MaxPool2d: "));
    }

    [Test]
    public void RandomArguments_NeverThrowAnythingButArgumentException()
    {
        var g = new Generator(25);
        int R(int lo, int hi) => lo + g.NextInt(hi - lo + 1);
        for (var i = 0; i < 3000; i++)
        {
            int[] shape = g.NextInt(6) switch
            {
                0 => [R(1, 3), R(1, 4), R(1, 4)],
                1 => [R(1, 5), R(1, 5)],
                _ => [R(0, 2), R(0, 3), R(1, 6), R(1, 6)],
            };
            var x = Tensor.Zeros<double>(shape);
            Size2? stride = g.NextInt(3) == 0 ? null : (R(-1, 4), R(0, 4));
            try
            {
                var y = x.MaxPool2d((R(0, 4), R(-1, 4)), stride, (R(-1, 2), R(-1, 2)), (R(0, 3), R(-1, 3)), g.NextInt(2) == 0);
                // A call that was accepted keeps the leading dims and yields a non-empty output plane.
                Assert.That(y.Shape[..^2], Is.EqualTo(shape[..^2]));
                Assert.That(y.Shape[^2..], Is.All.GreaterThanOrEqualTo(1));
            }
            catch (ArgumentException e)
            {
                Assert.That(e.Message, Does.StartWith("MaxPool2d: "));
            }
        }
    }
}
