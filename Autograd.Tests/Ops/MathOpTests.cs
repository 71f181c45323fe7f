using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;
using static Autograd.Tests.Ops.ElementwiseTests;

namespace Autograd.Tests.Ops;

/// <summary>
/// Elementwise maths beyond the four operations: gradient properties over broadcast shapes and
/// non-contiguous views (kinks are left to the kink-aware checker), values against scalar maths,
/// PyTorch's choices at ties and bounds, and argument errors.
/// </summary>
[Category("GradProperty")]
public class MathOpTests
{
    [Test]
    public void Pow_GradientMatchesFiniteDifferences() => CheckBinary((a, b) => a.Pow(b), -2, 2, aLo: 0.3, aHi: 2);

    [Test]
    public void PowScalarExponent_GradientMatchesFiniteDifferences()
    {
        foreach (var p in new[] { 2.0, 3.0, 0.5, -1.5, 0.0 })
        {
            CheckUnary(x => x.Pow(p), 0.3, 2);
        }

        CheckUnary(x => Tensor.Pow(1.7, x), -2, 2);
    }

    [Test]
    public void Sqrt_GradientMatchesFiniteDifferences() => CheckUnary(x => x.Sqrt(), 0.2, 3);

    [Test]
    public void Rsqrt_GradientMatchesFiniteDifferences() => CheckUnary(x => x.Rsqrt(), 0.2, 3);

    [Test]
    public void Abs_GradientMatchesFiniteDifferences() => CheckUnary(x => x.Abs());

    [Test]
    public void Sign_GradientMatchesFiniteDifferences() => CheckUnary(x => x.Sign() * x);

    [Test]
    public void Square_GradientMatchesFiniteDifferences() => CheckUnary(x => x.Square(), -2, 2);

    [Test]
    public void Clamp_GradientMatchesFiniteDifferences()
    {
        CheckUnary(x => x.Clamp(-0.5, 0.4));
        CheckUnary(x => x.Clamp(min: 0.1));
        CheckUnary(x => x.Clamp(max: -0.2));
    }

    [Test]
    public void Maximum_GradientMatchesFiniteDifferences() => CheckBinary((a, b) => a.Maximum(b));

    [Test]
    public void Minimum_GradientMatchesFiniteDifferences() => CheckBinary((a, b) => a.Minimum(b));

    [Test]
    public void Softplus_GradientMatchesFiniteDifferences()
    {
        CheckUnary(x => x.Softplus(), -4, 4);
        CheckUnary(x => x.Softplus(beta: 2, threshold: 1), -2, 2);
    }

    [Test]
    public void LeakyRelu_GradientMatchesFiniteDifferences() => CheckUnary(x => x.LeakyRelu(0.2));

    [Test]
    public void Gelu_GradientMatchesFiniteDifferences()
    {
        CheckUnary(x => x.Gelu(), -3, 3);
        CheckUnary(x => x.Gelu("tanh"), -3, 3);
    }

    [Test]
    public void Erf_GradientMatchesFiniteDifferences() => CheckUnary(x => x.Erf(), -3, 3);

    [Test]
    public void Erf_IsWithinTwoUlpOfTheCorrectlyRoundedValues_AndOdd()
    {
        // erf at x = 1e-8 … 0.76 and k/7 for k = 1 … 42, correctly rounded (mpmath, 50 digits).
        double[] xs = [1e-8, 1e-4, 0.01, 0.03125, 0.1, 0.2, 0.3, 0.49, 0.7, 0.74, 0.76, .. Enumerable.Range(1, 42).Select(k => k / 7.0)];
        double[] erf =
        [
            1.1283791670955126e-08, 0.00011283791633342487, 0.011283415555849618, 0.035250373867322826, 0.1124629160182849, 0.22270258921047847,
            0.3286267594591274, 0.511668261188523, 0.6778011938374184, 0.7046780778547458, 0.7175367528055908,
            0.16010712672873112, 0.31383215014476074, 0.4555460227252973, 0.5809796664656841, 0.6875777887573066, 0.7745576830054869,
            0.8427007929497149, 0.8939584462998292, 0.9309778240165438, 0.9566482487391373, 0.9737393658822046, 0.9846648629619924,
            0.9913705797792247, 0.9953222650189527, 0.9975581655797232, 0.9987728277136009, 0.9994063927802539, 0.9997236850716135,
            0.9998762519366964, 0.9999466876886117, 0.9999779095030014, 0.9999911973610471, 0.9999966271566789, 0.9999987574698017,
            0.9999995599505856, 0.9999998501903136, 0.9999999509785535, 0.9999999845827421, 0.9999999953401408, 0.9999999986465088,
            0.999999999622228, 0.9999999998986853, 0.9999999999738927, 0.9999999999935364, 0.9999999999984626, 0.9999999999996486,
            0.9999999999999228, 0.9999999999999837, 0.9999999999999967, 0.9999999999999993, 0.9999999999999999, 1.0,
        ];
        for (var i = 0; i < xs.Length; i++)
        {
            Assert.That(Erf(xs[i]), Is.EqualTo(erf[i]).Within(2 * (Math.BitIncrement(erf[i]) - erf[i])), $"erf({xs[i]:R})");
            Assert.That(Erf(-xs[i]), Is.EqualTo(-Erf(xs[i])), "odd");
        }

        // Every cell of the table (spacing 1/32), off its grid point, against the series or the continued fraction it was built from.
        for (var x = 0.0; x < 6.5; x += 1.0 / 256 + 1e-9)
        {
            var reference = x < 0.75 ? Autograd.Kernels.Special.ErfSeries(x) : x < 6 ? 1 - Autograd.Kernels.Special.ErfcFraction(x) : 1.0;
            Assert.That(Erf(x), Is.EqualTo(reference).Within(4 * (Math.BitIncrement(reference) - reference)), $"erf({x:R})");
        }

        Assert.That(Erf(double.NaN), Is.NaN);
        Assert.That(Erf(-0.0), Is.EqualTo(0.0).And.Matches<double>(double.IsNegative), "−0 keeps its sign");
        Assert.That(Erf(double.PositiveInfinity), Is.EqualTo(1.0));
        Assert.That(Erf(double.NegativeInfinity), Is.EqualTo(-1.0));
    }

    [Test]
    public void Erf_FourLanes_HaveTheScalarFunctionsBits()
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported)
        {
            Assert.Ignore("no AVX2: the rows are the scalar function");
        }

        double[] xs =
        [
            0, -0.0, 1e-300, 1.0 / 64, 1.0 / 64 + 1e-17, 0.3, 0.75, -0.74, 1, 2.5, -3.7, 5.99, 5.9999999999999991, 6, -6, 6.5, 1e10,
            double.PositiveInfinity, double.NegativeInfinity, double.NaN, double.Epsilon, -1.0 / 3, 4.000001, 3.984375,
        ];
        var gen = new Random(3);
        xs = [.. xs, .. Enumerable.Range(0, 4000).Select(_ => (gen.NextDouble() - 0.5) * 14)];
        for (var i = 0; i + 4 <= xs.Length; i += 4)
        {
            var lanes = Autograd.Kernels.Special.Erf(System.Runtime.Intrinsics.Vector256.Create(xs[i], xs[i + 1], xs[i + 2], xs[i + 3]));
            for (var j = 0; j < 4; j++)
            {
                Assert.That(BitConverter.DoubleToInt64Bits(lanes[j]), Is.EqualTo(BitConverter.DoubleToInt64Bits(Erf(xs[i + j]))), $"erf({xs[i + j]:R})");
            }
        }
    }

    [Test]
    public void Erf_InFloat_IsTheDoubleFunctionRoundedOnce_AtAnyLength()
    {
        // Lengths around the four-lane blocks: the Erf op stays the double function rounded once.
        foreach (var n in new[] { 1, 3, 4, 5, 7, 8, 9, 100_003 })
        {
            var xs = Enumerable.Range(0, n).Select(i => (float)(Math.Sin(i * 0.37) * 5)).ToArray();
            Assert.That(Tensor.FromArray(xs).Erf().ToArray(), Is.EqualTo(xs.Select(v => (float)Erf(v))), $"erf, n = {n}");
        }
    }

    [Test]
    public void FloatErf_IsWithin5e7AndEightUlp_OverTheWholeFloatRange_AtBothWidths()
    {
        // Every 241st positive float bit pattern (9 million values from the smallest subnormal to +∞, every binade
        // densely), each against double-precision erf: |error| ≤ 5·10⁻⁷ and ≤ 8 ulp of the float result. The
        // 512- and 256-bit forms give the same bits, and erf is odd.
        const int stride = 241;
        var xs = new float[16];
        var (maxAbs, maxUlp) = (0.0, 0.0);
        for (long bits = 0; bits <= 0x7F800000L; bits += stride * 16)
        {
            for (var j = 0; j < 16; j++)
            {
                xs[j] = BitConverter.Int32BitsToSingle((int)Math.Min(bits + j * stride, 0x7F800000L));
            }

            var v512 = Autograd.Kernels.Special.Erf(System.Runtime.Intrinsics.Vector512.Create(xs));
            var v256 = Autograd.Kernels.Special.Erf(System.Runtime.Intrinsics.Vector256.Create(xs.AsSpan(8)));
            var neg = Autograd.Kernels.Special.Erf(-System.Runtime.Intrinsics.Vector512.Create(xs));
            for (var j = 0; j < 16; j++)
            {
                var reference = Erf(xs[j]);
                var err = Math.Abs(v512[j] - reference);
                var ulp = Math.Max(MathF.BitIncrement((float)reference) - (float)reference, float.Epsilon);
                (maxAbs, maxUlp) = (Math.Max(maxAbs, err), Math.Max(maxUlp, err / ulp));
                if (err > 5e-7 || err > 8 * ulp)
                {
                    Assert.Fail($"erf({xs[j]:R}) = {v512[j]:R}, double erf {reference:R}: error {err:G3}");
                }

                Assert.That(neg[j], Is.EqualTo(-v512[j]), "odd");
                if (j >= 8)
                {
                    Assert.That(BitConverter.SingleToInt32Bits(v256[j - 8]), Is.EqualTo(BitConverter.SingleToInt32Bits(v512[j])), $"256 bits, erf({xs[j]:R})");
                }
            }
        }

        TestContext.Out.WriteLine($"float erf: max |error| {maxAbs:G3}, max {maxUlp:F2} ulp");
        var special = Autograd.Kernels.Special.Erf(System.Runtime.Intrinsics.Vector256.Create(float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, 0f, 1e-45f, -1e-30f, 3.9f));
        Assert.That(special[0], Is.NaN);
        Assert.That((special[1], special[2]), Is.EqualTo((1f, -1f)));
        Assert.That(float.IsNegative(special[3]) && special[3] == 0 && special[4] == 0, Is.True, "±0 keep their sign");
        Assert.That(special[5], Is.EqualTo(1e-45f), "the smallest subnormal: 2/√π·x rounds back to it");
        Assert.That(special[6], Is.EqualTo((float)Erf(-1e-30)).Within(1e-36));
    }

    [Test]
    public void Gelu_InFloat_IsWithinTheFloatErfBound_OfTheDoubleFunction_AndThreadCountFree()
    {
        // Float GELU and its fused VJP run in float lanes with the float erf: |Δy| ≤ ½|x|·5·10⁻⁷ from erf plus a few
        // roundings of y, at lengths around the 8- and 16-lane blocks and on a non-contiguous view.
        foreach (var n in new[] { 1, 3, 7, 8, 9, 15, 16, 17, 33, 100_003 })
        {
            var xs = Enumerable.Range(0, n).Select(i => (float)(Math.Sin(i * 0.37) * 7)).ToArray();
            var gs = Enumerable.Range(0, n).Select(i => (float)(1 + Math.Cos(i * 0.11))).ToArray();
            var x = Tensor.FromArray(xs, requiresGrad: true);
            var y = x.Gelu().ToArray();
            var dx = Tensor.Grad(x.Gelu(), x, Tensor.FromArray(gs))!.ToArray();
            for (var i = 0; i < n; i++)
            {
                double v = xs[i], phi = 0.5 * (1 + Erf(v / Math.Sqrt(2)));
                var (yRef, dRef) = (v * phi, gs[i] * (phi + v * Math.Exp(-0.5 * v * v) / Math.Sqrt(2 * Math.PI)));
                Assert.That(y[i], Is.EqualTo(yRef).Within(2.5e-7 * Math.Abs(v) + 3e-7 * Math.Abs(yRef) + 1e-30), $"gelu({v:R}), n = {n}");
                Assert.That(dx[i], Is.EqualTo(dRef).Within(3e-7 * gs[i] * (1 + Math.Abs(v)) + 3e-7 * Math.Abs(dRef)), $"gelu'({v:R}), n = {n}");
            }
        }

        var grid = Tensor.FromArray(Enumerable.Range(0, 7 * 5).Select(i => (float)(i * 0.3 - 5)).ToArray(), [7, 5]);
        var t = grid.Transpose(0, 1);
        Assert.That(t.IsContiguous, Is.False);
        Assert.That(t.Gelu().ToArray(), Is.EqualTo(t.Contiguous().Gelu().ToArray()), "a transposed view: the same values as its copy");

        var big = Tensor.Randn<float>([300_001], new Generator(4), requiresGrad: true);
        var g = Tensor.Randn<float>([300_001], new Generator(5));
        var previous = Tensor.NumThreads;
        try
        {
            Tensor.SetNumThreads(1);
            var (y1, d1) = (big.Gelu().ToArray(), Tensor.Grad(big.Gelu(), big, g)!.ToArray());
            Tensor.SetNumThreads(2);
            var (y2, d2) = (big.Gelu().ToArray(), Tensor.Grad(big.Gelu(), big, g)!.ToArray());
            Assert.That(y2, Is.EqualTo(y1), "forward: the same bits at 1 and 2 threads");
            Assert.That(d2, Is.EqualTo(d1), "fused VJP: the same bits at 1 and 2 threads");
        }
        finally
        {
            Tensor.SetNumThreads(previous);
        }
    }

    [TestCase(false)]
    [TestCase(true)]
    [NonParallelizable] // Sets the kernels' width switch.
    public void Gelu_InFloat_CarriesNaN_ThroughTheVectorLanes(bool force256) => KernelWidth.Run(force256, () =>
    {
        // The float lanes skip erf's and the exponential's NaN checks: a NaN x must still reach y and dx through the
        // factor x, in whole vectors (16 lanes, or 8 with the 256-bit kernels) and in the tail.
        var xs = Enumerable.Range(0, 27).Select(i => i % 5 == 2 ? float.NaN : (float)(i * 0.4 - 5)).ToArray();
        var x = Tensor.FromArray(xs, requiresGrad: true);
        var y = x.Gelu().ToArray();
        var dx = Tensor.Grad(x.Gelu(), x, Tensor.OnesLike(x))!.ToArray();
        for (var i = 0; i < xs.Length; i++)
        {
            Assert.That(float.IsNaN(y[i]), Is.EqualTo(float.IsNaN(xs[i])), $"gelu({xs[i]:R}) = {y[i]:R}");
            Assert.That(float.IsNaN(dx[i]), Is.EqualTo(float.IsNaN(xs[i])), $"gelu'({xs[i]:R}) = {dx[i]:R}");
        }
    });

    [Test]
    public void Gelu_FusedVjp_MatchesTheRecordedFormula()
    {
        // The VJP's fused pass (no createGraph) gives the recorded formula's values.
        var v = Tensor.FromArray(Enumerable.Range(0, 97).Select(i => -6.0 + i / 8.0).ToArray(), requiresGrad: true);
        var g = Tensor.FromArray(Enumerable.Range(0, 97).Select(i => 1.0 + i % 5).ToArray());
        var fused = Tensor.Grad(v.Gelu(), v, g)!;
        var recorded = Tensor.Grad(v.Gelu(), v, g, createGraph: true)!;
        Assert.That(recorded.RequiresGrad, Is.True, "the recorded formula");
        Assert.That(fused.ToArray(), Is.EqualTo(recorded.ToArray()).Within(1e-15));
    }

    [Test]
    public void Where_GradientMatchesFiniteDifferences() =>
        CheckBinary((a, b) => a.Where(a.Gt(0.1) * b.Lt(0.3), b));

    [Test]
    public void MaskedFill_GradientMatchesFiniteDifferences() =>
        CheckBinary((a, b) => (a + b).MaskedFill(b.Gt(0), -2.5));

    [Test]
    public void Cast_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec().Int("rank", 0, 3).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4).Views(1),
            c =>
            {
                var shape = TestData.Suffix([c["d0"], c["d1"], c["d2"]], c["rank"], 0);
                var (x, vx) = Inputs.Make(shape, c.View(0), c.Generator());
                var data = x.Storage.Span;
                for (var i = 0; i < data.Length; i++)
                {
                    data[i] = (float)data[i];
                }

                // Float-representable values and a power-of-two step keep x ± eps exact in float, and the
                // float side only doubles, so the round trip is exact and the finite differences see the
                // double function 3x² + 2x. Nonlinear, so the second-order rerun (OpSecondOrderTests) has
                // a Hessian to check, reached through both casts. The function is quadratic, so central
                // differences are exact at any step: a large one keeps the float rounding of the
                // gradient (the VJP casts g to float) small against it.
                var options = new GradCheckOptions { Eps = 1.0 / 16, Atol = 1e-4, Rtol = 1e-3 };
                return GradCheck.Check(t => (vx(t[0]).Cast<float>() * 2f).Cast<double>() * vx(t[0]) * 1.5 + vx(t[0]) * 2.0, [x], options);
            });

    [Test]
    public void Forward_MatchesScalarMaths()
    {
        var x = Tensor.FromArray(new[] { -1.5, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0 }, [7]);
        double[] erf = [-0.9661051464753108, -0.5204998778130465, 0, 0.5204998778130465, 0.8427007929497149, 0.9953222650189527, 0.9999779095030014];
        Assert.That(x.Erf().ToArray(), Is.EqualTo(erf).Within(1e-15));
        Assert.That(x.Gelu().ToArray(), Is.EqualTo(x.ToArray().Select((v, i) => 0.5 * v * (1 + Erf(v / Math.Sqrt(2))))).Within(1e-15));
        Assert.That(x.Gelu().At(4), Is.EqualTo(0.8413447460685429).Within(1e-15));
        Assert.That(x.Gelu("tanh").At(4), Is.EqualTo(0.8411919906082768).Within(1e-15));
        Assert.That(x.Abs().ToArray(), Is.EqualTo(new[] { 1.5, 0.5, 0, 0.5, 1, 2, 3 }));
        Assert.That(x.Sign().ToArray(), Is.EqualTo(new[] { -1.0, -1, 0, 1, 1, 1, 1 }));
        Assert.That(x.Square().ToArray(), Is.EqualTo(new[] { 2.25, 0.25, 0, 0.25, 1, 4, 9 }));
        Assert.That(x.Clamp(-1, 1).ToArray(), Is.EqualTo(new[] { -1.0, -0.5, 0, 0.5, 1, 1, 1 }));
        Assert.That(x.Clamp(2, 1).ToArray(), Is.All.EqualTo(1.0), "min above max gives max, as PyTorch");
        Assert.That(x.LeakyRelu(0.1).ToArray(), Is.EqualTo(new[] { -0.15, -0.05, 0, 0.5, 1, 2, 3 }).Within(1e-15));
        Assert.That(x.Softplus().ToArray(), Is.EqualTo(x.ToArray().Select(v => Math.Log(1 + Math.Exp(v)))).Within(1e-15));
        Assert.That(Tensor.FromArray(new[] { -800.0, 800.0, 30.0 }).Softplus().ToArray(), Is.EqualTo(new[] { 0.0, 800.0, 30.0 }));
        Assert.That(Tensor.FromArray(new[] { -40.0 }).Softplus().At(0), Is.EqualTo(Math.Exp(-40)).Within(1e-30));
        Assert.That(x.Pow(2).ToArray(), Is.EqualTo(x.Square().ToArray()));
        Assert.That(Tensor.FromArray(new[] { 4.0, 9.0 }).Sqrt().ToArray(), Is.EqualTo(new[] { 2.0, 3.0 }));
        Assert.That(Tensor.FromArray(new[] { 4.0, 0.25 }).Rsqrt().ToArray(), Is.EqualTo(new[] { 0.5, 2.0 }).Within(1e-15));
        var a = Tensor.FromArray(new[] { 1.0, 5.0, double.NaN }, [3]);
        var b = Tensor.FromArray(new[] { 2.0, 3.0, 0.0 }, [3]);
        Assert.That(a.Maximum(b).ToArray(), Is.EqualTo(new[] { 2.0, 5.0, double.NaN }));
        Assert.That(a.Minimum(b).ToArray(), Is.EqualTo(new[] { 1.0, 3.0, double.NaN }));
        Assert.That(Tensor.Pow(2.0, b).ToArray(), Is.EqualTo(new[] { 4.0, 8.0, 1.0 }));
    }

    [Test]
    public void Comparisons_GiveMasksThatNeverRequireGrad()
    {
        var a = Tensor.FromArray(new[] { 1f, 2f, 3f, float.NaN }, [4], requiresGrad: true);
        var b = Tensor.FromArray(new[] { 2f }, [1]);
        Assert.That(a.Eq(b).ToArray(), Is.EqualTo(new[] { 0f, 1f, 0f, 0f }));
        Assert.That(a.Ne(b).ToArray(), Is.EqualTo(new[] { 1f, 0f, 1f, 1f }));
        Assert.That(a.Lt(b).ToArray(), Is.EqualTo(new[] { 1f, 0f, 0f, 0f }));
        Assert.That(a.Le(2).ToArray(), Is.EqualTo(new[] { 1f, 1f, 0f, 0f }));
        Assert.That(a.Gt(2.5).ToArray(), Is.EqualTo(new[] { 0f, 0f, 1f, 0f }));
        Assert.That(a.Ge(b).ToArray(), Is.EqualTo(new[] { 0f, 1f, 1f, 0f }));
        Assert.That(a.Gt(b).RequiresGrad, Is.False);
        Assert.That(a.Gt(b).GradFn, Is.Null);
        var col = Tensor.FromArray(new[] { 1f, 3f }, [2, 1]);
        Assert.That(a.Lt(col).Shape, Is.EqualTo(new[] { 2, 4 }));
        Assert.That(a.Lt(col).ToArray(), Is.EqualTo(new[] { 0f, 0f, 0f, 0f, 1f, 1f, 0f, 0f }));
    }

    [Test]
    public void Where_AndMaskedFill_RouteGradientsByTheMask()
    {
        var a = Tensor.FromArray(new[] { 1.0, -2.0, 3.0 }, [3], requiresGrad: true);
        var b = Tensor.FromArray(new[] { 10.0 }, [1], requiresGrad: true);
        var y = a.Where(a.Gt(0), b);
        Assert.That(y.ToArray(), Is.EqualTo(new[] { 1.0, 10.0, 3.0 }));
        Assert.That(Tensor.Where(a.Gt(0), a, b).ToArray(), Is.EqualTo(y.ToArray()));
        y.Backward(Tensor.FromArray(new[] { 1.0, 2.0, 4.0 }));
        Assert.That(a.Grad!.ToArray(), Is.EqualTo(new[] { 1.0, 0.0, 4.0 }));
        Assert.That(b.Grad!.ToArray(), Is.EqualTo(new[] { 2.0 }));
        a.Grad = null;
        var z = a.MaskedFill(a.Lt(0), 0);
        Assert.That(z.ToArray(), Is.EqualTo(new[] { 1.0, 0.0, 3.0 }));
        z.Sum().Backward();
        Assert.That(a.Grad!.ToArray(), Is.EqualTo(new[] { 1.0, 0.0, 1.0 }));
    }

    [Test]
    public void Ties_AndBounds_FollowPyTorch()
    {
        var a = Tensor.FromArray(new[] { 1.0, 2.0 }, [2], requiresGrad: true);
        var b = Tensor.FromArray(new[] { 1.0, 3.0 }, [2], requiresGrad: true);
        a.Maximum(b).Sum().Backward();
        Assert.That(a.Grad!.ToArray(), Is.EqualTo(new[] { 0.5, 0.0 }));
        Assert.That(b.Grad!.ToArray(), Is.EqualTo(new[] { 0.5, 1.0 }));
        a.Grad = b.Grad = null;
        a.Minimum(b).Sum().Backward();
        Assert.That(a.Grad!.ToArray(), Is.EqualTo(new[] { 0.5, 1.0 }));
        Assert.That(b.Grad!.ToArray(), Is.EqualTo(new[] { 0.5, 0.0 }));

        var x = Tensor.FromArray(new[] { -1.0, 0.0, 0.5, 1.0, 2.0 }, [5], requiresGrad: true);
        x.Clamp(0, 1).Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 0.0, 1.0, 1.0, 1.0, 0.0 }), "bounds are inside");
        x.Grad = null;
        x.Abs().Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { -1.0, 0.0, 1.0, 1.0, 1.0 }));
        x.Grad = null;
        x.LeakyRelu(0.1).Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 0.1, 0.1, 1.0, 1.0, 1.0 }));
        x.Grad = null;
        x.Pow(0).Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.All.EqualTo(0.0));

        // x^b at a zero base: d/db is 0 for b >= 0 (PyTorch masks log 0), d/dx is 0 where b = 0.
        var zero = Tensor.FromArray(new[] { 0.0, 0.0 }, [2], requiresGrad: true);
        var e = Tensor.FromArray(new[] { 0.0, 2.0 }, [2], requiresGrad: true);
        zero.Pow(e).Sum().Backward();
        Assert.That(e.Grad!.ToArray(), Is.EqualTo(new[] { 0.0, 0.0 }));
        Assert.That(zero.Grad!.ToArray(), Is.EqualTo(new[] { 0.0, 0.0 }));
    }

    [Test]
    public void Cast_ConvertsAndSendsTheGradientBack()
    {
        var x = Tensor.FromArray(new[] { 1.5f, -2f }, [2], requiresGrad: true);
        var d = x.Cast<double>();
        Assert.That(d.ToArray(), Is.EqualTo(new[] { 1.5, -2.0 }));
        var loss = (d * d).Sum() + x.Cast<double>().Sum();
        loss.Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 4f, -3f }));
        Assert.That(Tensor.FromArray(new[] { 1.0 / 3 }).Cast<float>().At(0), Is.EqualTo(1f / 3));
    }

    [Test]
    public void FloatTensors_TakeDoubleLiteralsAndCastToScalars()
    {
        var x = Tensor.FromArray(new[] { 1f, 2f }, [2], requiresGrad: true);
        var y = (x * 0.5 + 1.0 - 0.25 * x / 2.0).Sum();
        Assert.That((float)y, Is.EqualTo(1.5f + 2.0f - 0.375f));
        Assert.That(y.Item(), Is.EqualTo((float)y));
        Assert.That((double)Tensor.Scalar(2.0), Is.EqualTo(2.0));
        y.Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 0.375f, 0.375f }));
        Assert.Throws<InvalidOperationException>(() => _ = (float)x);
    }

    [Test]
    public void BadArguments_NameOpArgumentAndShape()
    {
        var x = Tensor.Zeros<float>(2, 3);
        var ex = Assert.Throws<ArgumentException>(() => x.Clamp());
        Assert.That(ex!.Message, Does.Contain("Clamp").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => x.Gelu("fast"));
        Assert.That(ex!.Message, Does.Contain("Gelu").And.Contain("fast"));
        ex = Assert.Throws<ArgumentException>(() => x.Softplus(beta: 0));
        Assert.That(ex!.Message, Does.Contain("Softplus").And.Contain("beta"));
        ex = Assert.Throws<ArgumentException>(() => x.Where(Tensor.Zeros<float>(4), x));
        Assert.That(ex!.Message, Does.Contain("Where").And.Contain("[4]").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => x.MaskedFill(Tensor.Zeros<float>(3, 3), 1));
        Assert.That(ex!.Message, Does.Contain("MaskedFill").And.Contain("[3, 3]"));
        ex = Assert.Throws<ArgumentException>(() => x.MaskedFill(Tensor.Zeros<float>(2, 1, 3), 1));
        Assert.That(ex!.Message, Does.Contain("MaskedFill").And.Contain("[2, 1, 3]").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => x.Maximum(Tensor.Zeros<float>(4)));
        Assert.That(ex!.Message, Does.Contain("Maximum").And.Contain("[4]"));
        ex = Assert.Throws<ArgumentException>(() => x.Gt(Tensor.Zeros<float>(4)));
        Assert.That(ex!.Message, Does.Contain("Gt").And.Contain("[4]"));
    }

    private static double Erf(double v) => Autograd.Kernels.Special.Erf(v);
}
