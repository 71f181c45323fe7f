using Autograd;
using Autograd.Kernels;
using Autograd.Testing;

namespace Autograd.Tests.Ops;

/// <summary>Dropout, LayerNorm and BatchNorm2d: gradients, values from their defining formulas, errors.</summary>
public class NormalizationTests
{
    private static readonly double[] Probabilities = [0, 0.25, 0.5, 1];

    [Test]
    [Category("GradProperty")]
    public void Dropout_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec().Int("rank", 0, 3).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4).Int("p", 0, 3).Int("training", 0, 1).Views(1),
            c =>
            {
                var shape = new[] { c["d0"], c["d1"], c["d2"] }[(3 - c["rank"])..];
                var (x, vx) = Inputs.Make(shape, c.View(0), c.Generator());
                var (p, training, seed) = (Probabilities[c["p"]], c["training"] == 1, (ulong)c.Seed);

                // A fresh generator with the same seed per evaluation: every evaluation draws the same mask.
                return GradCheck.Check(t => vx(t[0]).Dropout(p, training, new Generator(seed)), [x]);
            });

    [Test]
    [Category("GradProperty")]
    public void LayerNorm_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec().Int("rank", 1, 3).Int("k", 1, 3).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4)
                .Int("weight", 0, 1).Int("bias", 0, 1).Int("eps", 0, 1).Views(3)
                .Where(c => c["k"] <= c["rank"]),
            c =>
            {
                var shape = new[] { c["d0"], c["d1"], c["d2"] }[(3 - c["rank"])..];
                var normalized = shape[^c["k"]..];
                var g = c.Generator();
                var (x, vx) = Inputs.Make(shape, c.View(0), g, -2, 2);
                var (w, vw) = Inputs.Make(normalized, c.View(1), g, 0.5, 2);
                var (b, vb) = Inputs.Make(normalized, c.View(2), g);
                var eps = c["eps"] == 1 ? 0.1 : 1e-5;
                var (hasW, hasB) = (c["weight"] == 1, c["bias"] == 1);
                return GradCheck.Check(t => vx(t[0]).LayerNorm(normalized, hasW ? vw(t[1]) : null, hasB ? vb(t[2]) : null, eps), [x, w, b]);
            });

    [Test]
    [Category("GradProperty")]
    public void BatchNorm2d_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec().Int("n", 1, 3).Int("c", 1, 3).Int("h", 1, 3).Int("w", 1, 3)
                .Int("training", 0, 1).Int("running", 0, 1).Int("affine", 0, 1).Views(3)
                .Where(c => c["training"] == 0 || c["n"] * c["h"] * c["w"] > 1)
                .Where(c => c["training"] == 1 || c["running"] == 1),
            c =>
            {
                var ch = c["c"];
                var g = c.Generator();
                var (x, vx) = Inputs.Make([c["n"], ch, c["h"], c["w"]], c.View(0), g, -2, 2);
                var (w, vw) = Inputs.Make([ch], c.View(1), g, 0.5, 2);
                var (b, vb) = Inputs.Make([ch], c.View(2), g);
                var mean = c["running"] == 1 ? Tensor.FromArray(Enumerable.Range(0, ch).Select(_ => g.NextDouble() - 0.5).ToArray(), [ch]) : null;
                var variance = c["running"] == 1 ? Tensor.FromArray(Enumerable.Range(0, ch).Select(_ => 0.5 + g.NextDouble()).ToArray(), [ch]) : null;
                var (training, affine) = (c["training"] == 1, c["affine"] == 1);
                return GradCheck.Check(
                    t => vx(t[0]).BatchNorm2d(mean, variance, affine ? vw(t[1]) : null, affine ? vb(t[2]) : null, training),
                    [x, w, b]);
            });

    // ---- Values ----

    [Test]
    public void Dropout_IsSeeded_ScalesSurvivors_AndIsTheIdentityInEvaluation()
    {
        var x = Tensor.Full([1000], 3f, requiresGrad: true);
        var y = x.Dropout(0.25, generator: new Generator(7));
        Assert.That(y.ToArray(), Is.EqualTo(x.Dropout(0.25, generator: new Generator(7)).ToArray()));
        Assert.That(y.ToArray(), Is.Not.EqualTo(x.Dropout(0.25, generator: new Generator(8)).ToArray()));
        var values = y.ToArray();
        Assert.That(values.All(v => v == 0f || v == 4f), "survivors are 3 / (1 − 0.25) = 4");
        var kept = values.Count(v => v != 0);
        Assert.That(kept, Is.InRange(750 - 60, 750 + 60), "about 1 − p of 1000 survive (±4.4σ)");

        y.Backward(Tensor.Full([1000], 2f));
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(values.Select(v => v == 0 ? 0f : 2f * 4f / 3f).ToArray()).Within(1e-6), "dx = g ⊙ mask");

        Assert.That(ReferenceEquals(x.Dropout(0.5, training: false), x));
        Assert.That(ReferenceEquals(x.Dropout(0), x));
        Assert.That(x.Dropout(1, generator: new Generator(1)).ToArray().All(v => v == 0f));

        // The default generator is used when none is given, so reseeding reproduces the mask.
        Tensor.ManualSeed(11);
        var first = x.Dropout().ToArray();
        Tensor.ManualSeed(11);
        Assert.That(x.Dropout().ToArray(), Is.EqualTo(first));
    }

    [Test]
    public void LayerNorm_MatchesFormula()
    {
        // Rows [1, 2, 3, 4] (μ = 2.5, biased var 1.25) and [−1, 0, 0, 1] (μ = 0, var 0.5); y = x̂·w + b.
        var x = Tensor.FromArray(new double[] { 1, 2, 3, 4, -1, 0, 0, 1 }, [2, 4]);
        var w = Tensor.FromArray(new double[] { 1, 2, 0.5, -1 }, [4]);
        var b = Tensor.FromArray(new double[] { 0, 1, 0, 2 }, [4]);
        var (s1, s2) = (Math.Sqrt(1.25 + 1e-5), Math.Sqrt(0.5 + 1e-5));
        double[] expected =
        [
            -1.5 / s1, 2 * -0.5 / s1 + 1, 0.5 * 0.5 / s1, -1.5 / s1 + 2,
            -1 / s2, 1, 0, -1 / s2 + 2,
        ];
        Assert.That(x.LayerNorm([4], w, b).ToArray(), Is.EqualTo(expected).Within(1e-14));
        var plain = x.LayerNorm([2, 4], eps: 0).ToArray();
        var all = new double[] { 1, 2, 3, 4, -1, 0, 0, 1 };
        var (mu, sd) = (all.Average(), Math.Sqrt(all.Select(v => (v - all.Average()) * (v - all.Average())).Average()));
        Assert.That(plain, Is.EqualTo(all.Select(v => (v - mu) / sd).ToArray()).Within(1e-14));
    }

    [Test]
    public void LayerNorm_FusedKernel_MatchesTheRecordedOps_AndIsThreadCountFree()
    {
        // The fused forward and VJP (LayerNormKernel) against the recorded formula (the createGraph path) in float,
        // at the GPT's [12, 64, 128] with weight and bias, at an odd row length without weight, and at a size the
        // kernel splits over threads (rows independent: the same bits at 1 and 2 threads; dweight, dbias summed in
        // blocks of rows, the blocks in order), in 512-bit rows where the machine has them and in the 256-bit loops.
        var previous = Tensor.NumThreads;
        try
        {
            foreach (var (shape, hasW) in new[] { (new[] { 12, 64, 128 }, true), (new[] { 7, 33 }, false), (new[] { 1024, 1031 }, true) })
            {
                var g0 = new Generator(11);
                var n = shape[^1];
                var x = (Tensor.Randn<float>(shape, g0) * 3.0 + 1.5).Detach();
                x.RequiresGrad = true;
                var w = hasW ? Tensor.Randn<float>([n], g0, requiresGrad: true) : null;
                var b = hasW ? Tensor.Randn<float>([n], g0, requiresGrad: true) : null;
                var up = Tensor.Randn<float>(shape, g0);
                Tensor<float>[] inputs = hasW ? [x, w!, b!] : [x];
                float[][] Run(bool createGraph) =>
                    [x.LayerNorm([n], w, b).ToArray(), .. Tensor.Grad([x.LayerNorm([n], w, b)], inputs, [up], createGraph: createGraph).Select(t => t!.ToArray())];

                Tensor.SetNumThreads(1);
                var fused1 = Run(false);
                var recorded = Run(true);
                Tensor.SetNumThreads(2);
                var fused2 = Run(false);
                float[][] narrow;
                Simd.ForceVector256 = true;
                try
                {
                    narrow = Run(false);
                }
                finally
                {
                    Simd.ForceVector256 = false;
                }

                for (var i = 0; i < fused1.Length; i++)
                {
                    var scale = recorded[i].Max(Math.Abs);
                    Assert.That(fused1[i], Is.EqualTo(recorded[i]).Within(2e-5 * scale), $"{ShapeMath.Format(shape)}, output {i}: fused against recorded");
                    Assert.That(narrow[i], Is.EqualTo(recorded[i]).Within(2e-5 * scale), $"{ShapeMath.Format(shape)}, output {i}: 256-bit loops against recorded");
                    Assert.That(fused2[i], Is.EqualTo(fused1[i]), $"{ShapeMath.Format(shape)}, output {i}: the same bits at 1 and 2 threads");
                }
            }
        }
        finally
        {
            Tensor.SetNumThreads(previous);
        }
    }

    [Test]
    public void BatchNorm2d_TrainingUpdatesRunningStatsWithUnbiasedVariance_EvalUsesThem()
    {
        // One channel with values 1, 2, 3, 6 over (N, H, W) = (2, 1, 2): μ = 3, biased σ² = 14/4 = 3.5,
        // unbiased 14/3. momentum 0.1 from (0, 1): mean 0.1·3 = 0.3, var 0.9·1 + 0.1·14/3.
        var x = Tensor.FromArray(new double[] { 1, 2, 3, 6 }, [2, 1, 1, 2], requiresGrad: true);
        var mean = Tensor.Zeros<double>(1);
        var variance = Tensor.Ones<double>(1);
        var version = mean.Storage.Version;
        var y = x.BatchNorm2d(mean, variance, training: true);
        Assert.That(y.ToArray(), Is.EqualTo(new double[] { 1, 2, 3, 6 }.Select(v => (v - 3) / Math.Sqrt(3.5 + 1e-5)).ToArray()).Within(1e-14));
        Assert.That(mean.ToArray()[0], Is.EqualTo(0.3).Within(1e-15));
        Assert.That(variance.ToArray()[0], Is.EqualTo(0.9 + 0.1 * 14.0 / 3).Within(1e-15));
        Assert.That(mean.Storage.Version, Is.GreaterThan(version), "the in-place update bumps the version");

        // In training, Σ x̂ = 0 whatever x, so with a constant weight the gradient of Σ y is zero.
        y.Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new double[4]).Within(1e-12));

        // Evaluation: y = (x − 0.3)/√(var + eps)·w + b, and dx = g·w/√(var + eps); the buffers stay put.
        var w = Tensor.FromArray(new[] { 2.0 }, [1], requiresGrad: true);
        var b = Tensor.FromArray(new[] { 0.5 }, [1], requiresGrad: true);
        var sd = Math.Sqrt(0.9 + 0.1 * 14.0 / 3 + 1e-5);
        x.Grad = null;
        var eval = x.BatchNorm2d(mean, variance, w, b);
        Assert.That(eval.ToArray(), Is.EqualTo(new double[] { 1, 2, 3, 6 }.Select(v => (v - 0.3) / sd * 2 + 0.5).ToArray()).Within(1e-14));
        Assert.That(mean.ToArray()[0], Is.EqualTo(0.3).Within(1e-15));
        eval.Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(Enumerable.Repeat(2 / sd, 4).ToArray()).Within(1e-14));
        Assert.That(b.Grad!.ToArray(), Is.EqualTo(new[] { 4.0 }));
        Assert.That(w.Grad!.ToArray()[0], Is.EqualTo(new double[] { 1, 2, 3, 6 }.Sum(v => (v - 0.3) / sd)).Within(1e-13));

        // Training without running statistics uses the batch and updates nothing.
        Assert.That(x.BatchNorm2d(null, null, training: true).ToArray(), Is.EqualTo(y.ToArray()));
    }

    /// <summary>Every new layer and loss on one input, as a generic pipeline: float and double must agree (and both backward).</summary>
    private static (double[] Values, double[] Grad) Pipeline<T>(double[] data)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var x = Tensor.FromArray(data.Select(T.CreateChecked).ToArray(), [2, 3, 4, 4], requiresGrad: true);
        var (mean, variance) = (Tensor.Zeros<T>(3), Tensor.Ones<T>(3));
        var h = x.BatchNorm2d(mean, variance, Tensor.Ones<T>(3), Tensor.Zeros<T>(3), training: true)
            .LayerNorm([4, 4])
            .Dropout(0.3, generator: new Generator(2))
            .AvgPool2d(2, 1, 1, countIncludePad: false)
            .AdaptiveAvgPool2d(3);
        var logits = h.Flatten(1).Narrow(1, 0, 5);
        var target = Tensor.Full([2, 5], T.CreateChecked(0.25));
        var loss = logits.CrossEntropy([4, -100], Tensor.Ones<T>(5), labelSmoothing: 0.1)
            + logits.BinaryCrossEntropyWithLogits(target, posWeight: Tensor.Full([5], T.CreateChecked(2)))
            + logits.MseLoss(target) + logits.L1Loss(target, Reduction.Sum);
        loss.Backward();
        double[] values = [.. loss.ToArray().Select(double.CreateChecked), .. mean.ToArray().Select(double.CreateChecked), .. variance.ToArray().Select(double.CreateChecked)];
        return (values, x.Grad!.ToArray().Select(double.CreateChecked).ToArray());
    }

    [Test]
    public void LayersAndLosses_FloatMatchesDouble()
    {
        var g = new Generator(9);
        var data = Enumerable.Range(0, 96).Select(_ => g.NextNormal()).ToArray();
        var (dv, dg) = Pipeline<double>(data);
        var (fv, fg) = Pipeline<float>(data);
        Assert.That(fv, Is.EqualTo(dv).Within(1e-5));
        Assert.That(fg, Is.EqualTo(dg).Within(1e-4));
        Assert.That(dg.Any(v => v != 0));
    }

    [Test]
    public void SavedTensors_AreTheInputsNotTheOutput()
    {
        // LayerNorm and BatchNorm2d keep μ and σ⁻¹ and rebuild x̂ from the input, as PyTorch: writing the
        // output in place (an in-place ReLU after a norm) leaves the gradient right ...
        var g = new Generator(4);
        var x = Tensor.Randn<double>([2, 3, 2, 2], g, requiresGrad: true);
        var upstream = Tensor.Randn<double>([2, 3, 2, 2], g);
        x.LayerNorm([2, 2]).Backward(upstream);
        var expected = x.Grad!.ToArray();
        x.Grad = null;
        var y = x.LayerNorm([2, 2]);
        using (Tensor.NoGrad())
        {
            y.MulInPlace(0.0);
        }

        y.Backward(upstream);
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(expected));

        // ... while writing a tensor the VJP reads makes backward throw instead of returning a wrong gradient.
        var input = Tensor.FromArray(new[] { 1.0, 2.0 }, [2], requiresGrad: true);
        var target = Tensor.FromArray(new[] { 0.0, 0.0 }, [2]);
        var loss = input.MseLoss(target);
        target.AddInPlace(1.0);
        var e = Assert.Throws<SavedTensorModifiedException>(() => loss.Backward());
        Assert.That(e!.OpName, Is.EqualTo("MseLoss"));

        var z = x.BatchNorm2d(null, null, training: true);
        using (Tensor.NoGrad())
        {
            x.Detach().AddInPlace(1.0);
        }

        e = Assert.Throws<SavedTensorModifiedException>(() => z.Backward(upstream));
        Assert.That(e!.OpName, Is.EqualTo("BatchNorm2d"));
    }

    // ---- Arguments ----

    [Test]
    public void LayerArguments_AreChecked()
    {
        var x = Tensor.Zeros<float>(2, 3, 4, 4);
        var ex = Assert.Throws<ArgumentException>(() => x.Dropout(1.5));
        Assert.That(ex!.Message, Does.Contain("Dropout").And.Contain("1.5").And.Contain("[2, 3, 4, 4]"));
        Assert.Throws<ArgumentException>(() => x.Dropout(double.NaN));

        ex = Assert.Throws<ArgumentException>(() => x.LayerNorm([3, 4]));
        Assert.That(ex!.Message, Does.Contain("LayerNorm").And.Contain("[3, 4]").And.Contain("[2, 3, 4, 4]"));
        ex = Assert.Throws<ArgumentException>(() => x.LayerNorm([4], Tensor.Ones<float>(3)));
        Assert.That(ex!.Message, Does.Contain("LayerNorm").And.Contain("weight").And.Contain("[3]"));
        ex = Assert.Throws<ArgumentException>(() => x.LayerNorm([]));
        Assert.That(ex!.Message, Does.Contain("LayerNorm").And.Contain("normalizedShape"));
        ex = Assert.Throws<ArgumentException>(() => x.LayerNorm([4], eps: -1));
        Assert.That(ex!.Message, Does.Contain("LayerNorm").And.Contain("eps"));

        var stats = (Tensor.Zeros<float>(3), Tensor.Ones<float>(3));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<float>(2, 3, 4).BatchNorm2d(stats.Item1, stats.Item2));
        Assert.That(ex!.Message, Does.Contain("BatchNorm2d").And.Contain("4-D").And.Contain("[2, 3, 4]"));
        ex = Assert.Throws<ArgumentException>(() => x.BatchNorm2d(Tensor.Zeros<float>(4), stats.Item2));
        Assert.That(ex!.Message, Does.Contain("BatchNorm2d").And.Contain("runningMean").And.Contain("[3]").And.Contain("[4]"));
        ex = Assert.Throws<ArgumentException>(() => x.BatchNorm2d(null, null));
        Assert.That(ex!.Message, Does.Contain("BatchNorm2d").And.Contain("evaluation"));
        ex = Assert.Throws<ArgumentException>(() => x.BatchNorm2d(stats.Item1, null, training: true));
        Assert.That(ex!.Message, Does.Contain("both"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<float>(1, 3, 1, 1).BatchNorm2d(stats.Item1, stats.Item2, training: true));
        Assert.That(ex!.Message, Does.Contain("BatchNorm2d").And.Contain("more than 1 value per channel"));
        ex = Assert.Throws<ArgumentException>(() => x.BatchNorm2d(stats.Item1, stats.Item2, bias: Tensor.Zeros<float>(2)));
        Assert.That(ex!.Message, Does.Contain("bias").And.Contain("[2]"));
        var trainable = Tensor.Zeros<float>(3);
        trainable.RequiresGrad = true;
        ex = Assert.Throws<ArgumentException>(() => x.BatchNorm2d(trainable, stats.Item2, training: true));
        Assert.That(ex!.Message, Does.Contain("must not require grad"));
    }
}
