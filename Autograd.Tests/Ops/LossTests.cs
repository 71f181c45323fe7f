using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Ops;

/// <summary>
/// MseLoss, L1Loss, BinaryCrossEntropyWithLogits, and NllLoss/CrossEntropy with class weights,
/// ignoreIndex, label smoothing, [N, C, d…] inputs and every reduction: gradients against finite
/// differences, values against PyTorch's formulas written out here, and argument errors.
/// </summary>
public class LossTests
{
    private static readonly Reduction[] Reductions = [Reduction.None, Reduction.Mean, Reduction.Sum];

    /// <summary>Rank 0–3 shapes, a reduction, and two generated views (input and target both require grad).</summary>
    private static CaseSpec PairSpec() => new CaseSpec()
        .Int("rank", 0, 3).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4).Int("reduction", 0, 2).Views(2);

    /// <summary>Sets every value of a leaf to an odd (or even) multiple of 0.1 in about [−1, 1], so odd − even is never within 0.1 of 0.</summary>
    private static Tensor<double> Snap(Tensor<double> leaf, bool odd)
    {
        var data = leaf.Storage._data;
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = 0.1 * (2 * Math.Round(data[i] * 5) + (odd ? 1 : 0));
        }

        return leaf;
    }

    [Test]
    [Category("GradProperty")]
    public void MseLoss_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(PairSpec(), c =>
        {
            var shape = TestData.Suffix([c["d0"], c["d1"], c["d2"]], c["rank"], 0);
            var g = c.Generator();
            var (x, vx) = Inputs.Make(shape, c.View(0), g);
            var (t, vt) = Inputs.Make(shape, c.View(1), g);
            var reduction = Reductions[c["reduction"]];
            return GradCheck.Check(a => vx(a[0]).MseLoss(vt(a[1]), reduction), [x, t]);
        });

    [Test]
    [Category("GradProperty")]
    public void L1Loss_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(PairSpec(), c =>
        {
            var shape = TestData.Suffix([c["d0"], c["d1"], c["d2"]], c["rank"], 0);
            var g = c.Generator();
            var (x, vx) = Inputs.Make(shape, c.View(0), g);
            var (t, vt) = Inputs.Make(shape, c.View(1), g);
            Snap(x, odd: true);
            Snap(t, odd: false);
            var reduction = Reductions[c["reduction"]];
            return GradCheck.Check(a => vx(a[0]).L1Loss(vt(a[1]), reduction), [x, t]);
        });

    [Test]
    [Category("GradProperty")]
    public void BinaryCrossEntropyWithLogits_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            PairSpec().Int("weight", 0, 2).Int("posWeight", 0, 1).Where(c => c["rank"] > 0 || c["posWeight"] == 0),
            c =>
            {
                var shape = TestData.Suffix([c["d0"], c["d1"], c["d2"]], c["rank"], 0);
                var g = c.Generator();
                var (x, vx) = Inputs.Make(shape, c.View(0), g, -4, 4);
                var (t, vt) = Inputs.Make(shape, c.View(1), g, 0, 1);
                List<Tensor<double>> leaves = [x, t];

                // weight: none, one per element, or one per position of the last dimension (broadcast);
                // posWeight: one per class along the last dimension, as PyTorch documents it.
                var weight = c["weight"] switch
                {
                    1 => Inputs.Make(shape, ViewKind.Contiguous, g, 0.5, 2).Leaf,
                    2 => Inputs.Make(shape.Length == 0 ? [] : [shape[^1]], ViewKind.Contiguous, g, 0.5, 2).Leaf,
                    _ => null,
                };
                var posWeight = c["posWeight"] == 1 ? Inputs.Make([shape[^1]], ViewKind.Contiguous, g, 0.5, 3).Leaf : null;
                var (wAt, pAt) = (weight is null ? -1 : leaves.Count, posWeight is null ? -1 : leaves.Count + (weight is null ? 0 : 1));
                leaves.AddRange(new[] { weight, posWeight }.OfType<Tensor<double>>());
                var reduction = Reductions[c["reduction"]];
                return GradCheck.Check(
                    a => vx(a[0]).BinaryCrossEntropyWithLogits(vt(a[1]), wAt < 0 ? null : a[wAt], pAt < 0 ? null : a[pAt], reduction),
                    [.. leaves]);
            });

    /// <summary>
    /// Input [C], [N, C], [N, C, d1] or [N, C, d1, d2]; class weights or none; ignoreIndex −100 or class 0;
    /// some targets set to the ignored index; a reduction. At least one target is kept, so the mean is finite.
    /// </summary>
    private static CaseSpec ClassSpec() => new CaseSpec()
        .Int("rank", 1, 4).Int("n", 1, 3).Int("classes", 1, 4).Int("d1", 1, 3).Int("d2", 1, 2)
        .Int("weighted", 0, 1).Int("ignoreClass0", 0, 1).Int("reduction", 0, 2).Views(1)
        .Where(c => c["ignoreClass0"] == 0 || c["classes"] >= 2);

    private static (int[] Shape, int[] Targets, Tensor<double>? Weight, int IgnoreIndex) ClassCase(Case c, Generator g)
    {
        var (n, classes) = (c["n"], c["classes"]);
        int[] shape = c["rank"] switch
        {
            1 => [classes],
            2 => [n, classes],
            3 => [n, classes, c["d1"]],
            _ => [n, classes, c["d1"], c["d2"]],
        };
        var count = shape.Length == 1 ? 1 : shape.Aggregate(1, (a, b) => a * b) / classes;
        var ignoreIndex = c["ignoreClass0"] == 1 ? 0 : -100;
        var targets = Enumerable.Range(0, count).Select(_ => g.NextInt(4) == 0 ? ignoreIndex : g.NextInt(classes)).ToArray();
        if (targets.All(t => t == ignoreIndex))
        {
            targets[0] = classes - 1;
        }

        var weight = c["weighted"] == 1 ? Inputs.Make([classes], ViewKind.Contiguous, g, 0.5, 2).Leaf : null;
        weight?.RequiresGrad = false;
        return (shape, targets, weight, ignoreIndex);
    }

    [Test]
    [Category("GradProperty")]
    public void NllLoss_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(ClassSpec(), c =>
        {
            var g = c.Generator();
            var (shape, targets, weight, ignoreIndex) = ClassCase(c, g);
            var (x, vx) = Inputs.Make(shape, c.View(0), g);
            var reduction = Reductions[c["reduction"]];
            return GradCheck.Check(t => vx(t[0]).NllLoss(targets, weight, ignoreIndex, reduction), [x]);
        });

    [Test]
    [Category("GradProperty")]
    public void CrossEntropy_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(ClassSpec().Int("smoothing", 0, 2), c =>
        {
            var g = c.Generator();
            var (shape, targets, weight, ignoreIndex) = ClassCase(c, g);
            var (x, vx) = Inputs.Make(shape, c.View(0), g, -4, 4);
            var reduction = Reductions[c["reduction"]];
            var smoothing = c["smoothing"] * 0.25;
            return GradCheck.Check(t => vx(t[0]).CrossEntropy(targets, weight, ignoreIndex, reduction, smoothing), [x]);
        });

    // ---- Values ----

    [Test]
    public void MseAndL1_MatchHandComputation_ForEveryReduction()
    {
        // d = x − t = [1, 0, −2]: squares [1, 0, 4], absolute values [1, 0, 2].
        double[] xs = [1, 2, 3], ts = [0, 2, 5];
        var x = Tensor.FromArray(xs, [3], requiresGrad: true);
        var t = Tensor.FromArray(ts, [3], requiresGrad: true);
        Assert.That(x.MseLoss(t, Reduction.None).ToArray(), Is.EqualTo(new double[] { 1, 0, 4 }));
        Assert.That(x.MseLoss(t, Reduction.Sum).Item(), Is.EqualTo(5));
        Assert.That(x.L1Loss(t, Reduction.None).ToArray(), Is.EqualTo(new double[] { 1, 0, 2 }));
        Assert.That(x.L1Loss(t, Reduction.Sum).Item(), Is.EqualTo(3));

        var mse = x.MseLoss(t);
        Assert.That(mse.Item(), Is.EqualTo(5.0 / 3).Within(1e-15));
        mse.Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 2.0 / 3, 0, -4.0 / 3 }).Within(1e-15)); // 2·d / 3
        Assert.That(t.Grad!.ToArray(), Is.EqualTo(new[] { -2.0 / 3, 0, 4.0 / 3 }).Within(1e-15));

        x.Grad = null;
        var l1 = x.L1Loss(t);
        Assert.That(l1.Item(), Is.EqualTo(1).Within(1e-15));
        l1.Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 1.0 / 3, 0, -1.0 / 3 }).Within(1e-15)); // sign(d) / 3, 0 at d = 0
    }

    [Test]
    public void BinaryCrossEntropyWithLogits_MatchesTextbookForm_AndIsStable()
    {
        // PyTorch's documented form: l = −w·[p·t·log σ(x) + (1 − t)·log(1 − σ(x))], p broadcast along the last dim.
        double[] xs = [0.5, -1.5, 2.0, 0.0], ts = [1, 0, 0.3, 1], ws = [1.0, 2.0, 0.5, 1.5], ps = [3.0, 0.5];
        static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));
        var expected = new double[4];
        var grad = new double[4];
        for (var i = 0; i < 4; i++)
        {
            var (x0, t0, w0, p0) = (xs[i], ts[i], ws[i], ps[i % 2]);
            expected[i] = -w0 * (p0 * t0 * Math.Log(Sigmoid(x0)) + (1 - t0) * Math.Log(1 - Sigmoid(x0)));
            grad[i] = w0 * (-p0 * t0 * (1 - Sigmoid(x0)) + (1 - t0) * Sigmoid(x0)) / 4; // d/dx, mean over 4
        }

        var x = Tensor.FromArray(xs, [2, 2], requiresGrad: true);
        var t = Tensor.FromArray(ts, [2, 2]);
        var w = Tensor.FromArray(ws, [2, 2]);
        var p = Tensor.FromArray(ps, [2]);
        Assert.That(x.BinaryCrossEntropyWithLogits(t, w, p, Reduction.None).ToArray(), Is.EqualTo(expected).Within(1e-14));
        var loss = x.BinaryCrossEntropyWithLogits(t, w, p);
        Assert.That(loss.Item(), Is.EqualTo(expected.Average()).Within(1e-14));
        loss.Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(grad).Within(1e-14));

        // |x| = 1000 overflows exp in the naive form; the stable form gives the exact 1000 and σ − t.
        var big = Tensor.FromArray(new[] { 1000f, -1000f, 30f }, [3], requiresGrad: true);
        var bigLoss = big.BinaryCrossEntropyWithLogits(Tensor.FromArray(new[] { 0f, 1f, 1f }, [3]), reduction: Reduction.Sum);
        Assert.That(bigLoss.Item(), Is.EqualTo(2000f + MathF.Log(1 + MathF.Exp(-30f))).Within(1e-3));
        bigLoss.Backward();
        Assert.That(big.Grad!.ToArray(), Is.EqualTo(new[] { 1f, -1f, -MathF.Exp(-30f) }).Within(1e-12));
    }

    /// <summary>
    /// PyTorch's cross_entropy with weight, ignore_index and label_smoothing, written out: per kept row i,
    /// nllᵢ = −w[tᵢ]·logpᵢ[tᵢ] and sᵢ = −Σ_c w[c]·logpᵢ[c]; with W = Σ_kept w[tᵢ], the mean is
    /// (1 − ε)·Σ nllᵢ / W + (ε / C)·Σ sᵢ / W. Its gradient per kept row, with pᵢ = softmax:
    /// dzᵢ[c] = ((1 − ε)·w[tᵢ]·(pᵢ[c] − [c = tᵢ]) + (ε / C)·(pᵢ[c]·Σ w − w[c])) / W.
    /// </summary>
    [Test]
    public void CrossEntropy_WithWeightsIgnoreIndexAndLabelSmoothing_MatchesPyTorchFormula()
    {
        double[] z =
        [
            0.2, -1.0, 0.5, 1.5,
            2.0, 0.1, -0.3, 0.0,
            -0.5, 0.7, 1.1, -2.0,
        ];
        int[] targets = [3, -100, 1];
        double[] w = [0.5, 2.0, 1.0, 1.5];
        const double eps = 0.2;
        const int c = 4;
        double loss = 0, totalWeight = 0, smooth = 0;
        var grad = new double[12];
        var kept = new[] { 0, 2 };
        foreach (var i in kept)
        {
            totalWeight += w[targets[i]];
        }

        foreach (var i in kept)
        {
            var row = z.Skip(4 * i).Take(4).ToArray();
            var logSum = Math.Log(row.Sum(Math.Exp));
            var logp = row.Select(v => v - logSum).ToArray();
            loss += -w[targets[i]] * logp[targets[i]];
            smooth += -Enumerable.Range(0, c).Sum(k => w[k] * logp[k]);
            for (var k = 0; k < c; k++)
            {
                var p = Math.Exp(logp[k]);
                grad[4 * i + k] = ((1 - eps) * w[targets[i]] * (p - (k == targets[i] ? 1 : 0)) + eps / c * (p * w.Sum() - w[k])) / totalWeight;
            }
        }

        var expected = (1 - eps) * loss / totalWeight + eps / c * smooth / totalWeight;
        var logits = Tensor.FromArray(z, [3, 4], requiresGrad: true);
        var weight = Tensor.FromArray(w, [4]);
        var result = logits.CrossEntropy(targets, weight, labelSmoothing: eps);
        Assert.That(result.Item(), Is.EqualTo(expected).Within(1e-14));
        result.Backward();
        Assert.That(logits.Grad!.ToArray(), Is.EqualTo(grad).Within(1e-14));

        // Sum and None: the same terms without the division by W; the ignored row is 0.
        var none = logits.CrossEntropy(targets, weight, reduction: Reduction.None, labelSmoothing: eps).ToArray();
        Assert.That(none[1], Is.EqualTo(0));
        Assert.That(none.Sum(), Is.EqualTo(expected * totalWeight).Within(1e-13));
        Assert.That(logits.CrossEntropy(targets, weight, reduction: Reduction.Sum, labelSmoothing: eps).Item(), Is.EqualTo(expected * totalWeight).Within(1e-13));

        // Unweighted mean divides by the number of kept targets (2), not by N (3).
        var unweighted = logits.CrossEntropy(targets, labelSmoothing: eps).Item();
        var perRow = logits.CrossEntropy(targets, reduction: Reduction.None, labelSmoothing: eps).ToArray();
        Assert.That(unweighted, Is.EqualTo((perRow[0] + perRow[2]) / 2).Within(1e-14));
    }

    [Test]
    public void NllLoss_WeightedMean_DividesByTheWeightsOfKeptTargets()
    {
        // logp rows [−1, −2, −3], [−4, −5, −6], [−7, −8, −9]; targets 2, ignored, 0; w = [2, 1, 0.5].
        // mean = (0.5·3 + 2·7) / (0.5 + 2) = 6.2; the gradient is −w[t] / 2.5 at each kept target.
        var x = Tensor.FromArray(new double[] { -1, -2, -3, -4, -5, -6, -7, -8, -9 }, [3, 3], requiresGrad: true);
        var w = Tensor.FromArray(new[] { 2, 1, 0.5 }, [3]);
        var loss = x.NllLoss([2, 7, 0], w, ignoreIndex: 7);
        Assert.That(loss.Item(), Is.EqualTo(6.2).Within(1e-14));
        loss.Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 0, 0, -0.2, 0, 0, 0, -0.8, 0, 0 }).Within(1e-15));
        Assert.That(x.NllLoss([2, 7, 0], w, 7, Reduction.None).ToArray(), Is.EqualTo(new[] { 1.5, 0, 14 }));
    }

    [Test]
    public void AllTargetsIgnored_MeanIsNaN_SumIsZero_GradientIsZero()
    {
        var logits = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f }, [2, 2], requiresGrad: true);
        int[] targets = [-100, -100];
        var mean = logits.CrossEntropy(targets, labelSmoothing: 0.1);
        Assert.That(float.IsNaN(mean.Item()));
        mean.Backward();
        Assert.That(logits.Grad!.ToArray(), Is.EqualTo(new float[4]));
        Assert.That(logits.CrossEntropy(targets, reduction: Reduction.Sum).Item(), Is.EqualTo(0f));
        Assert.That(float.IsNaN(logits.NllLoss(targets, Tensor.FromArray(new[] { 1f, 2f }, [2])).Item()));
    }

    [Test]
    public void CrossEntropy_SpatialInput_EqualsTheSameRowsFlattened()
    {
        // [N, C, d] = [2, 3, 2] with targets over [N, d]: the same as the [N·d, C] rows (class dim moved last).
        var g = new Generator(5);
        var x = Tensor.Randn<double>([2, 3, 2], g);
        int[] targets = [0, 2, 1, -100];
        var rows = x.Permute(0, 2, 1).Reshape(4, 3);
        var w = Tensor.FromArray(new[] { 1.0, 0.5, 2.0 }, [3]);
        var none = x.CrossEntropy(targets, w, reduction: Reduction.None, labelSmoothing: 0.3);
        Assert.That(none.Shape, Is.EqualTo(new[] { 2, 2 }));
        Assert.That(none.ToArray(), Is.EqualTo(rows.CrossEntropy(targets, w, reduction: Reduction.None, labelSmoothing: 0.3).ToArray()).Within(1e-14));
        Assert.That(x.CrossEntropy(targets, w, labelSmoothing: 0.3).Item(), Is.EqualTo(rows.CrossEntropy(targets, w, labelSmoothing: 0.3).Item()).Within(1e-14));

        // Unbatched [C] with one target: a rank-0 loss equal to the batch-of-one row.
        var one = Tensor.FromArray(new[] { 0.1, 0.9, -0.4 }, [3]);
        Assert.That(one.CrossEntropy([1], reduction: Reduction.None).Shape, Is.Empty);
        Assert.That(one.CrossEntropy([1]).Item(), Is.EqualTo(one.Reshape(1, 3).CrossEntropy([1]).Item()).Within(1e-15));
    }

    // ---- Arguments ----

    [Test]
    public void LossArguments_AreChecked()
    {
        var x = Tensor.Zeros<float>(2, 3);
        var ex = Assert.Throws<ArgumentException>(() => x.MseLoss(Tensor.Zeros<float>(3, 2)));
        Assert.That(ex!.Message, Does.Contain("MseLoss").And.Contain("[3, 2]").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => x.L1Loss(Tensor.Zeros<float>(2)));
        Assert.That(ex!.Message, Does.Contain("L1Loss").And.Contain("[2]").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => x.MseLoss(x, (Reduction)7));
        Assert.That(ex!.Message, Does.Contain("MseLoss").And.Contain("reduction"));
        ex = Assert.Throws<ArgumentException>(() => x.BinaryCrossEntropyWithLogits(x, posWeight: Tensor.Ones<float>(2)));
        Assert.That(ex!.Message, Does.Contain("BinaryCrossEntropyWithLogits").And.Contain("posWeight").And.Contain("[2]").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => x.BinaryCrossEntropyWithLogits(x, weight: Tensor.Ones<float>(4, 2, 3)));
        Assert.That(ex!.Message, Does.Contain("weight").And.Contain("[4, 2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => x.BinaryCrossEntropyWithLogits(Tensor.Zeros<float>(2, 1)));
        Assert.That(ex!.Message, Does.Contain("BinaryCrossEntropyWithLogits").And.Contain("[2, 1]"));

        ex = Assert.Throws<ArgumentException>(() => x.CrossEntropy([0, 5], ignoreIndex: 1));
        Assert.That(ex!.Message, Does.Contain("CrossEntropy").And.Contain("target 5").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => x.NllLoss([-1, 0]));
        Assert.That(ex!.Message, Does.Contain("NllLoss").And.Contain("target -1").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => x.CrossEntropy([0, 1], Tensor.Ones<float>(2)));
        Assert.That(ex!.Message, Does.Contain("CrossEntropy").And.Contain("weight").And.Contain("[2]").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => x.CrossEntropy([0, 1], labelSmoothing: 1.5));
        Assert.That(ex!.Message, Does.Contain("CrossEntropy").And.Contain("labelSmoothing").And.Contain("1.5"));
        Assert.Throws<ArgumentException>(() => x.CrossEntropy([0, 1], labelSmoothing: double.NaN));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<float>(2, 3, 4).CrossEntropy([0, 1, 2]));
        Assert.That(ex!.Message, Does.Contain("CrossEntropy").And.Contain("3 targets").And.Contain("[2, 3, 4]").And.Contain("[2, 4]"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Scalar(1f).NllLoss([0]));
        Assert.That(ex!.Message, Does.Contain("NllLoss").And.Contain("[]"));
        var trainable = Tensor.Ones<float>([3]);
        trainable.RequiresGrad = true;
        ex = Assert.Throws<ArgumentException>(() => x.CrossEntropy([0, 1], trainable));
        Assert.That(ex!.Message, Does.Contain("weight requires grad"));
    }
}
