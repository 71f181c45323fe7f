using Autograd.Optim;

namespace Autograd.Nn.Tests;

/// <summary>
/// Optimiser steps against PyTorch's update rules written out by hand for each case (scalar
/// arithmetic on the numbers of the test, never our kernels).
/// </summary>
public class OptimizerTests
{
    private static readonly double[] P0 = [1.0, -2.0, 0.5];
    private static readonly double[] G1 = [0.5, -1.0, 2.0];
    private static readonly double[] G2 = [-0.25, 0.75, 1.5];

    private static Tensor<double> Param() => Tensor.FromArray((double[])P0.Clone(), requiresGrad: true);

    private static void SetGrad(Tensor<double> p, double[] g) => p.Grad = Tensor.FromArray(g);

    /// <summary>Two steps with gradients G1 then G2; returns the parameter after each.</summary>
    private static (double[] After1, double[] After2) TwoSteps(Func<Tensor<double>, Action> makeStep)
    {
        var p = Param();
        var step = makeStep(p);
        SetGrad(p, G1);
        step();
        var after1 = p.ToArray();
        SetGrad(p, G2);
        step();
        return (after1, p.ToArray());
    }

    private static void AssertClose(double[] actual, double[] expected) =>
        Assert.That(actual, Is.EqualTo(expected).Within(1e-12));

    [Test]
    public void Sgd_Plain_IsPMinusLrG()
    {
        var (a1, a2) = TwoSteps(p => new SGD<double>([p], lr: 0.1).Step);
        AssertClose(a1, [.. P0.Select((p, i) => p - 0.1 * G1[i])]);
        AssertClose(a2, [.. P0.Select((p, i) => p - 0.1 * G1[i] - 0.1 * G2[i])]);
    }

    [Test]
    public void Sgd_Momentum_WithDampening_FollowsPyTorch()
    {
        // Step 1: buf = g1 (no dampening on the first step); p1 = p0 − lr·g1.
        // Step 2: buf = μ·g1 + (1 − dampening)·g2; p2 = p1 − lr·buf.
        const double lr = 0.1, mu = 0.9, damp = 0.2;
        var (a1, a2) = TwoSteps(p => new SGD<double>([p], lr, momentum: mu, dampening: damp).Step);
        var p1 = P0.Select((p, i) => p - lr * G1[i]).ToArray();
        AssertClose(a1, p1);
        AssertClose(a2, [.. p1.Select((p, i) => p - lr * (mu * G1[i] + (1 - damp) * G2[i]))]);
    }

    [Test]
    public void Sgd_Nesterov_FollowsPyTorch()
    {
        // Step 1: buf = g1, d = g1 + μ·buf = (1 + μ)·g1. Step 2: buf = μ·g1 + g2, d = g2 + μ·buf.
        const double lr = 0.05, mu = 0.8;
        var (a1, a2) = TwoSteps(p => new SGD<double>([p], lr, momentum: mu, nesterov: true).Step);
        var p1 = P0.Select((p, i) => p - lr * (1 + mu) * G1[i]).ToArray();
        AssertClose(a1, p1);
        AssertClose(a2, [.. p1.Select((p, i) => p - lr * (G2[i] + mu * (mu * G1[i] + G2[i])))]);
    }

    [Test]
    public void Sgd_WeightDecay_AddsWdTimesPToTheGradient_BeforeMomentum()
    {
        // d1 = g1 + wd·p0, buf = d1; d2 = g2 + wd·p1, buf = μ·d1 + d2.
        const double lr = 0.1, mu = 0.5, wd = 0.01;
        var (a1, a2) = TwoSteps(p => new SGD<double>([p], lr, momentum: mu, weightDecay: wd).Step);
        var d1 = P0.Select((p, i) => G1[i] + wd * p).ToArray();
        var p1 = P0.Select((p, i) => p - lr * d1[i]).ToArray();
        AssertClose(a1, p1);
        AssertClose(a2, [.. p1.Select((p, i) => p - lr * (mu * d1[i] + G2[i] + wd * p))]);
    }

    [Test]
    public void Sgd_Maximize_Ascends()
    {
        var (a1, _) = TwoSteps(p => new SGD<double>([p], lr: 0.1, maximize: true).Step);
        AssertClose(a1, [.. P0.Select((p, i) => p + 0.1 * G1[i])]);
    }

    /// <summary>Adam by the book, one element at a time: returns p after each step.</summary>
    private static (double[], double[]) AdamByHand(double lr, double b1, double b2, double eps, double wd, bool decoupled, bool amsgrad)
    {
        var results = AdamByHand(P0, [G1, G2], lr, b1, b2, eps, wd, decoupled, amsgrad, maximize: false);
        return (results[0], results[1]);
    }

    /// <summary>Adam by the book from <paramref name="p0"/> with one gradient per step: p after each step.</summary>
    private static List<double[]> AdamByHand(
        double[] p0, double[][] steps, double lr, double b1, double b2, double eps, double wd, bool decoupled, bool amsgrad, bool maximize)
    {
        var n = p0.Length;
        var p = (double[])p0.Clone();
        var m = new double[n];
        var v = new double[n];
        var vmax = new double[n];
        var results = new List<double[]>();
        var t = 0;
        foreach (var grads in steps)
        {
            t++;
            for (var i = 0; i < n; i++)
            {
                var g = maximize ? -grads[i] : grads[i];
                if (decoupled)
                {
                    p[i] *= 1 - lr * wd;
                }
                else
                {
                    g += wd * p[i];
                }

                m[i] = b1 * m[i] + (1 - b1) * g;
                v[i] = b2 * v[i] + (1 - b2) * g * g;
                vmax[i] = Math.Max(vmax[i], v[i]);
                var mHat = m[i] / (1 - Math.Pow(b1, t));
                var vHat = (amsgrad ? vmax[i] : v[i]) / (1 - Math.Pow(b2, t));
                p[i] -= lr * mHat / (Math.Sqrt(vHat) + eps);
            }

            results.Add((double[])p.Clone());
        }

        return results;
    }

    /// <summary>
    /// An infinite weight stays infinite under Adam without weight decay and under AdamW (whose gradient gets no
    /// L2 term): as PyTorch, which adds p·wd to the gradient only when wd ≠ 0; ∞·0 would make the moments NaN.
    /// </summary>
    [TestCase(false)]
    [TestCase(true)]
    public void Adam_InfiniteWeightWithoutL2_StaysInfinite(bool decoupled)
    {
        var values = Enumerable.Range(0, 37).Select(i => 0.1f * i).ToArray();
        values[3] = float.PositiveInfinity;    // in the vector loop
        values[36] = float.NegativeInfinity;   // in the scalar tail
        var p = Tensor.FromArray(values, requiresGrad: true);
        Adam<float> opt = decoupled ? new AdamW<float>([p], 0.01) : new Adam<float>([p], 0.01);
        p.Grad = Tensor.FromArray(Enumerable.Repeat(0.5f, 37).ToArray());
        opt.Step();
        var after = p.ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(after[3], Is.EqualTo(float.PositiveInfinity));
            Assert.That(after[36], Is.EqualTo(float.NegativeInfinity));
            Assert.That(after.Where(float.IsNaN), Is.Empty);
        });
    }

    /// <summary>
    /// The update is one fused pass with a vector loop and a scalar tail: parameters of 37 and 1000 elements (several
    /// vectors of every width plus a tail) follow the by-hand rule element for element over three steps, for Adam, AdamW,
    /// amsgrad and maximize, in double (to 1e-12) and float (to 2e-6 relative).
    /// </summary>
    [TestCase(37, false, false, false)]
    [TestCase(1000, false, false, false)]
    [TestCase(37, true, false, false)]
    [TestCase(1000, true, true, false)]
    [TestCase(1000, false, true, true)]
    [TestCase(37, true, false, true)]
    public void Adam_LongParameters_FollowTheRuleInEveryLane(int n, bool decoupled, bool amsgrad, bool maximize)
    {
        const double lr = 0.05, b1 = 0.8, b2 = 0.7, eps = 1e-3, wd = 0.2;
        var g = new Generator(5);
        var p0 = Enumerable.Range(0, n).Select(_ => g.NextNormal()).ToArray();
        var grads = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, n).Select(_ => g.NextNormal()).ToArray()).ToArray();

        var expected = AdamByHand(p0, grads, lr, b1, b2, eps, wd, decoupled, amsgrad, maximize)[^1];
        Assert.That(Run<double>(), Is.EqualTo(expected).Within(1e-12));
        var single = Run<float>();
        for (var i = 0; i < n; i++)
        {
            Assert.That(single[i], Is.EqualTo(expected[i]).Within(2e-6 * Math.Max(1, Math.Abs(expected[i]))), $"element {i}");
        }

        double[] Run<T>()
            where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        {
            var p = Tensor.FromArray(p0.Select(T.CreateChecked).ToArray(), requiresGrad: true);
            Adam<T> opt = decoupled
                ? new AdamW<T>([p], lr, (b1, b2), eps, wd, amsgrad, maximize)
                : new Adam<T>([p], lr, (b1, b2), eps, wd, amsgrad, maximize);
            foreach (var gs in grads)
            {
                p.Grad = Tensor.FromArray(gs.Select(T.CreateChecked).ToArray());
                opt.Step();
            }

            return [.. p.ToArray().Select(double.CreateChecked)];
        }
    }

    [Test]
    public void Adam_FirstStep_IsLrTimesSignOfG_ByBiasCorrection()
    {
        // With bias correction m̂ = g and v̂ = g² after one step, so p1 = p0 − lr·g/(|g| + eps).
        var (a1, _) = TwoSteps(p => new Adam<double>([p], lr: 0.01).Step);
        AssertClose(a1, [.. P0.Select((p, i) => p - 0.01 * G1[i] / (Math.Abs(G1[i]) + 1e-8))]);
    }

    [Test]
    public void Adam_TwoSteps_MatchTheFormula()
    {
        var (a1, a2) = TwoSteps(p => new Adam<double>([p], lr: 0.1, betas: (0.8, 0.99), eps: 1e-6).Step);
        var (e1, e2) = AdamByHand(0.1, 0.8, 0.99, 1e-6, 0, decoupled: false, amsgrad: false);
        AssertClose(a1, e1);
        AssertClose(a2, e2);
    }

    [Test]
    public void Adam_WeightDecay_IsAddedToTheGradient()
    {
        var (a1, a2) = TwoSteps(p => new Adam<double>([p], lr: 0.1, weightDecay: 0.3).Step);
        var (e1, e2) = AdamByHand(0.1, 0.9, 0.999, 1e-8, 0.3, decoupled: false, amsgrad: false);
        AssertClose(a1, e1);
        AssertClose(a2, e2);
    }

    [Test]
    public void AdamW_DecaysTheWeights_DecoupledFromTheGradient()
    {
        var (a1, a2) = TwoSteps(p => new AdamW<double>([p], lr: 0.1, weightDecay: 0.3).Step);
        var (e1, e2) = AdamByHand(0.1, 0.9, 0.999, 1e-8, 0.3, decoupled: true, amsgrad: false);
        AssertClose(a1, e1);
        AssertClose(a2, e2);
        var (adam1, _) = AdamByHand(0.1, 0.9, 0.999, 1e-8, 0.3, decoupled: false, amsgrad: false);
        Assert.That(a1, Is.Not.EqualTo(adam1).Within(1e-6), "AdamW differs from Adam with L2");
    }

    [Test]
    public void AdamW_DefaultWeightDecay_IsPyTorchs()
    {
        var p = Param();
        Assert.That(new AdamW<double>([p]).Defaults.WeightDecay, Is.EqualTo(0.01));
        Assert.That(new Adam<double>([Param()]).Defaults.WeightDecay, Is.EqualTo(0));
    }

    [Test]
    public void Adam_Amsgrad_UsesTheMaximumSecondMoment()
    {
        // |G2| < |G1| in the first element and β2 = 0.5, so v falls there (0.125 → 0.09375) and v̂max stays.
        var (a1, a2) = TwoSteps(p => new Adam<double>([p], lr: 0.1, betas: (0.9, 0.5), amsgrad: true).Step);
        var (e1, e2) = AdamByHand(0.1, 0.9, 0.5, 1e-8, 0, decoupled: false, amsgrad: true);
        AssertClose(a1, e1);
        AssertClose(a2, e2);
        var (_, plain2) = AdamByHand(0.1, 0.9, 0.5, 1e-8, 0, decoupled: false, amsgrad: false);
        Assert.That(a2[0], Is.Not.EqualTo(plain2[0]).Within(1e-9));
    }

    [Test]
    public void State_IsCreatedLazily_PerParameter_AndSkipsParametersWithoutGrad()
    {
        var a = Param();
        var b = Param();
        var opt = new Adam<double>([a, b]);
        Assert.That(opt.GetState(a), Is.Null);
        SetGrad(a, G1);
        opt.Step();
        Assert.That(opt.GetState(a)!.Step, Is.EqualTo(1));
        Assert.That(opt.GetState(b), Is.Null, "no gradient, no state");
        Assert.That(b.ToArray(), Is.EqualTo(P0), "no gradient, no update");
        Assert.That(opt.GetState(a)!.ExpAvg.Shape, Is.EqualTo(a.Shape));
    }

    [Test]
    public void Step_UpdatesInPlace_BumpsTheVersion_AndRecordsNothing()
    {
        var p = Param();
        var storage = p.Storage;
        var version = storage.Version;
        SetGrad(p, G1);
        new SGD<double>([p], lr: 0.1, momentum: 0.9).Step();
        Assert.That(p.Storage, Is.SameAs(storage));
        Assert.That(storage.Version, Is.GreaterThan(version));
        Assert.That(p.IsLeaf, Is.True);
    }

    [Test]
    public void ParamGroups_OverrideTheDefaults()
    {
        var a = Param();
        var b = Param();
        var defaults = new SgdOptions { Lr = 0.1 };
        var opt = new SGD<double>([new ParamGroup<double>([a]), new ParamGroup<double>([b], defaults with { Lr = 0.5 })], defaults);
        SetGrad(a, G1);
        SetGrad(b, G1);
        opt.Step();
        AssertClose(a.ToArray(), [.. P0.Select((p, i) => p - 0.1 * G1[i])]);
        AssertClose(b.ToArray(), [.. P0.Select((p, i) => p - 0.5 * G1[i])]);
        Assert.That(opt.ParamGroups.Select(g => g.Lr), Is.EqualTo(new[] { 0.1, 0.5 }));
    }

    [Test]
    public void ZeroGrad_ZeroesInPlace_OrDropsTheGradients()
    {
        var p = Param();
        SetGrad(p, G1);
        var grad = p.Grad;
        var opt = new SGD<double>([p], lr: 0.1);
        opt.ZeroGrad();
        Assert.That(p.Grad, Is.SameAs(grad));
        Assert.That(p.Grad!.ToArray(), Is.All.EqualTo(0.0));
        opt.ZeroGrad(setToNone: true);
        Assert.That(p.Grad, Is.Null);
    }

    [Test]
    public void BadArguments_AreRejected_WithTheOptimiserNamed()
    {
        var p = Param();
        Assert.That(Assert.Throws<ArgumentException>(() => new SGD<double>([p], lr: -1))!.Message, Does.StartWith("SGD: invalid learning rate"));
        Assert.That(Assert.Throws<ArgumentException>(() => new SGD<double>([p], lr: 0.1, nesterov: true))!.Message, Does.Contain("Nesterov"));
        Assert.That(Assert.Throws<ArgumentException>(() => new Adam<double>([p], betas: (1.0, 0.9)))!.Message, Does.StartWith("Adam: invalid betas"));
        Assert.That(Assert.Throws<ArgumentException>(() => new SGD<double>([p, p], lr: 0.1))!.Message, Does.Contain("appears twice"));
        var q = Param();
        Assert.That(Assert.Throws<ArgumentException>(() => new SGD<double>([new ParamGroup<double>([p]), new ParamGroup<double>([q, p])], new SgdOptions { Lr = 0.1 }))!.Message, Does.Contain("more than one parameter group"));
        var nonLeaf = p * 2.0;
        Assert.That(Assert.Throws<ArgumentException>(() => new SGD<double>([nonLeaf], lr: 0.1))!.Message, Does.Contain("non-leaf"));
        Assert.Throws<ArgumentException>(() => new SGD<double>([], lr: 0.1));
    }

    [Test]
    public void StepLR_MultipliesByGammaEveryStepSizeEpochs()
    {
        var opt = new SGD<double>([Param()], lr: 1.0);
        var scheduler = new StepLR(opt, stepSize: 2, gamma: 0.5);
        var lrs = new List<double> { opt.ParamGroups[0].Lr };
        for (var e = 0; e < 5; e++)
        {
            scheduler.Step();
            lrs.Add(scheduler.GetLastLr()[0]);
        }

        Assert.That(lrs, Is.EqualTo(new[] { 1.0, 1.0, 0.5, 0.5, 0.25, 0.25 }).Within(1e-15));
    }

    [Test]
    public void CosineAnnealingLR_FollowsTheHalfCosine()
    {
        var opt = new SGD<double>([Param()], lr: 0.1);
        var scheduler = new CosineAnnealingLR(opt, tMax: 4, etaMin: 0.02);
        var lrs = new List<double>();
        for (var e = 1; e <= 4; e++)
        {
            scheduler.Step();
            lrs.Add(opt.ParamGroups[0].Lr);
        }

        // η_e = 0.02 + 0.08·(1 + cos(π e / 4)) / 2: cos = √½, 0, −√½, −1.
        var h = Math.Sqrt(0.5);
        Assert.That(lrs, Is.EqualTo(new[] { 0.02 + 0.04 * (1 + h), 0.06, 0.02 + 0.04 * (1 - h), 0.02 }).Within(1e-15));
    }
}
