using Autograd;
using Autograd.Testing;

namespace Autograd.Tests.Ops;

/// <summary>
/// BatchNorm1d, Conv1d, GroupNorm, Dropout2d and Interpolate: gradients over generated shapes and layouts, values
/// against PyTorch's (<see cref="PyTorchReference"/>) and against their defining formulas, argument errors.
/// </summary>
public class LayerOpTests
{
    private static readonly double[] Probabilities = [0, 0.25, 0.5, 1];

    private static readonly string[] Modes = ["nearest", "linear", "bilinear"];

    // ---- Gradients ----

    [Test]
    [Category("GradProperty")]
    public void BatchNorm1d_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec().Int("n", 1, 3).Int("c", 1, 3).Int("l", 0, 3)
                .Int("training", 0, 1).Int("running", 0, 1).Int("affine", 0, 1).Views(3)
                .Where(c => c["training"] == 0 || c["n"] * Math.Max(c["l"], 1) > 1)
                .Where(c => c["training"] == 1 || c["running"] == 1),
            c =>
            {
                var ch = c["c"];
                var g = c.Generator();
                int[] shape = c["l"] == 0 ? [c["n"], ch] : [c["n"], ch, c["l"]];   // l = 0: the [N, C] form
                var (x, vx) = Inputs.Make(shape, c.View(0), g, -2, 2);
                var (w, vw) = Inputs.Make([ch], c.View(1), g, 0.5, 2);
                var (b, vb) = Inputs.Make([ch], c.View(2), g);
                var mean = c["running"] == 1 ? Tensor.FromArray(Enumerable.Range(0, ch).Select(_ => g.NextDouble() - 0.5).ToArray(), [ch]) : null;
                var variance = c["running"] == 1 ? Tensor.FromArray(Enumerable.Range(0, ch).Select(_ => 0.5 + g.NextDouble()).ToArray(), [ch]) : null;
                var (training, affine) = (c["training"] == 1, c["affine"] == 1);
                return GradCheck.Check(
                    t => vx(t[0]).BatchNorm1d(mean, variance, affine ? vw(t[1]) : null, affine ? vb(t[2]) : null, training),
                    [x, w, b]);
            });

    [Test]
    [Category("GradProperty")]
    public void Conv1d_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec().Int("n", 1, 2).Int("groups", 1, 2).Int("cg", 1, 2).Int("fg", 1, 2).Int("l", 1, 6).Int("k", 1, 3)
                .Int("stride", 1, 2).Int("pad", 0, 3).Int("dilation", 1, 2).Int("bias", 0, 1).Int("unbatched", 0, 1).Views(3)
                .Where(c => c["pad"] == 3 ? c["stride"] == 1 : c["l"] + 2 * c["pad"] >= c["dilation"] * (c["k"] - 1) + 1),
            c =>
            {
                var (groups, n) = (c["groups"], c["n"]);
                var (cIn, f) = (groups * c["cg"], groups * c["fg"]);
                int[] xShape = c["unbatched"] == 1 ? [cIn, c["l"]] : [n, cIn, c["l"]];
                var g = c.Generator();
                var (x, vx) = Inputs.Make(xShape, c.View(0), g);
                var (w, vw) = Inputs.Make([f, c["cg"], c["k"]], c.View(1), g);
                var (b, vb) = Inputs.Make([f], c.View(2), g);
                Padding1d padding = c["pad"] == 3 ? "same" : c["pad"];
                var withBias = c["bias"] == 1;
                return GradCheck.Check(
                    t => vx(t[0]).Conv1d(vw(t[1]), withBias ? vb(t[2]) : null, c["stride"], padding, c["dilation"], groups),
                    withBias ? [x, w, b] : [x, w]);
            });

    [Test]
    [Category("GradProperty")]
    public void GroupNorm_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec().Int("n", 1, 2).Int("groups", 1, 3).Int("cpg", 1, 2).Int("spatial", 0, 2).Int("h", 1, 3).Int("w", 1, 3)
                .Int("weight", 0, 1).Int("bias", 0, 1).Int("eps", 0, 1).Views(3)
                .Where(c => c["cpg"] * (c["spatial"] >= 1 ? c["h"] : 1) * (c["spatial"] == 2 ? c["w"] : 1) > 1),
            c =>
            {
                var ch = c["groups"] * c["cpg"];
                int[] shape = [c["n"], ch, .. new[] { c["h"], c["w"] }[..c["spatial"]]];
                var g = c.Generator();
                var (x, vx) = Inputs.Make(shape, c.View(0), g, -2, 2);
                var (w, vw) = Inputs.Make([ch], c.View(1), g, 0.5, 2);
                var (b, vb) = Inputs.Make([ch], c.View(2), g);
                var eps = c["eps"] == 1 ? 0.1 : 1e-5;
                var (hasW, hasB) = (c["weight"] == 1, c["bias"] == 1);
                return GradCheck.Check(t => vx(t[0]).GroupNorm(c["groups"], hasW ? vw(t[1]) : null, hasB ? vb(t[2]) : null, eps), [x, w, b]);
            });

    [Test]
    [Category("GradProperty")]
    public void Dropout2d_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec().Int("rank", 3, 4).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 3).Int("d3", 1, 3).Int("p", 0, 3).Int("training", 0, 1).Views(1),
            c =>
            {
                var shape = new[] { c["d0"], c["d1"], c["d2"], c["d3"] }[(4 - c["rank"])..];
                var (x, vx) = Inputs.Make(shape, c.View(0), c.Generator());
                var (p, training, seed) = (Probabilities[c["p"]], c["training"] == 1, (ulong)c.Seed);

                // A fresh generator with the same seed per evaluation: every evaluation draws the same mask.
                return GradCheck.Check(t => vx(t[0]).Dropout2d(p, training, new Generator(seed)), [x]);
            });

    [Test]
    [Category("GradProperty")]
    public void Interpolate_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec().Int("mode", 0, 2).Int("rank", 3, 4).Int("n", 1, 2).Int("c", 1, 2).Int("h", 1, 4).Int("w", 1, 4)
                .Int("oh", 1, 6).Int("ow", 1, 6).Int("byScale", 0, 1).Int("align", 0, 2).Views(1)
                .Where(c => c["mode"] == 0 || c["rank"] == c["mode"] + 2)
                .Where(c => c["mode"] > 0 || c["align"] == 2)
                .Where(c => c["byScale"] == 0 || (c["w"] * c["ow"] >= 2 && (c["rank"] == 3 || c["h"] * c["oh"] >= 2))),
            c =>
            {
                var mode = Modes[c["mode"]];
                int[] shape = c["rank"] == 4 ? [c["n"], c["c"], c["h"], c["w"]] : [c["n"], c["c"], c["w"]];
                var (x, vx) = Inputs.Make(shape, c.View(0), c.Generator());
                bool? align = c["align"] == 2 ? null : c["align"] == 1;

                // By scale: factors oh/2 and ow/2 (0.5 to 3, down- and up-sampling); by size: the sizes themselves.
                var spatial = c["rank"] - 2;
                int[] size = [c["oh"], c["ow"]];
                double[] scale = [c["oh"] / 2.0, c["ow"] / 2.0];
                return GradCheck.Check(
                    t => c["byScale"] == 1
                        ? vx(t[0]).Interpolate(scaleFactor: scale[(2 - spatial)..], mode: mode, alignCorners: align)
                        : vx(t[0]).Interpolate(size[(2 - spatial)..], mode: mode, alignCorners: align),
                    [x]);
            });

    // ---- Values against PyTorch ----

    private static void AssertMatches(Tensor<double> actual, string reference, double tolerance = 1e-12)
    {
        var (values, shape) = PyTorchReference.Values[reference];
        Assert.That(actual.Shape, Is.EqualTo(shape), reference);
        Assert.That(actual.ToArray(), Is.EqualTo(values).Within(tolerance), reference);
    }

    [Test]
    public void Interpolate_MatchesPyTorch()
    {
        var x = PyTorchReference.Seq(0.7, 1, 2, 3, 4);
        AssertMatches(x.Interpolate([5, 7]), "nearest_size_5_7");
        AssertMatches(x.Interpolate(1.5), "nearest_scale_1.5");
        AssertMatches(x.Interpolate([2, 3]), "nearest_size_2_3");
        AssertMatches(x.Interpolate([5, 3], mode: "bilinear"), "bilinear_size_5_3");
        AssertMatches(x.Interpolate(2, "bilinear", alignCorners: true), "bilinear_align_scale_2");
        AssertMatches(x.Interpolate(0.6, "bilinear", alignCorners: false), "bilinear_scale_0.6");
        AssertMatches(x.Interpolate(scaleFactor: [1.7, 2.5], mode: "bilinear"), "bilinear_scale_1.7_2.5");

        var x3 = PyTorchReference.Seq(0.7, 1, 2, 5);
        AssertMatches(x3.Interpolate([3]), "nearest1d_size_3");
        AssertMatches(x3.Interpolate(2.5), "nearest1d_scale_2.5");
        AssertMatches(x3.Interpolate([7], mode: "linear"), "linear1d_size_7");
        AssertMatches(x3.Interpolate([7], mode: "linear", alignCorners: true), "linear1d_align_size_7");

        // Float: PyTorch computes λ in float, this op in double before rounding, so allow a few float ulps.
        var y = x.Cast<float>().Interpolate([5, 3], mode: "bilinear").Cast<double>();
        AssertMatches(y, "bilinear_float_size_5_3", 1e-6);

        // The gradient of Σ y ⊙ seq(0.3) with respect to x.
        var xg = x.Clone().Detach();
        xg.RequiresGrad = true;
        (xg.Interpolate([5, 3], mode: "bilinear") * PyTorchReference.Seq(0.3, 1, 2, 5, 3)).Sum().Backward();
        AssertMatches(xg.Grad!, "bilinear_size_5_3_grad");
    }

    [Test]
    public void Interpolate_NearestByTwoRepeatsEachPixel_AndIdentitySizeCopies()
    {
        var x = Tensor.FromArray(new double[] { 1, 2, 3, 4 }, [1, 1, 2, 2]);
        Assert.That(x.Interpolate(2.0).ToArray(), Is.EqualTo(new double[] { 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4 }));
        var same = x.Interpolate([2, 2], mode: "bilinear");
        Assert.That(same.ToArray(), Is.EqualTo(x.ToArray()));
        Assert.That(ReferenceEquals(x.Interpolate([2, 2]), x), Is.False, "a new tensor, as PyTorch");
    }

    [Test]
    public void GroupNorm_MatchesPyTorch()
    {
        var x = PyTorchReference.Seq(0.9, 2, 4, 3);
        x.RequiresGrad = true;
        var w = (PyTorchReference.Seq(0.5, 4) + 1.0).Detach();
        w.RequiresGrad = true;
        var b = PyTorchReference.Seq(1.3, 4);
        b.RequiresGrad = true;
        var y = x.GroupNorm(2, w, b);
        AssertMatches(y, "groupnorm");
        (y * PyTorchReference.Seq(0.3, 2, 4, 3)).Sum().Backward();
        AssertMatches(x.Grad!, "groupnorm_dx");
        AssertMatches(w.Grad!, "groupnorm_dw");
        AssertMatches(b.Grad!, "groupnorm_db");
    }

    [Test]
    public void GroupNorm_WithOneGroupIsLayerNormOverCAndSpace_WithCGroupsIsPerChannel()
    {
        var x = Tensor.Randn<double>([2, 4, 3, 2], new Generator(3));
        Assert.That(x.GroupNorm(1).ToArray(), Is.EqualTo(x.LayerNorm([4, 3, 2]).ToArray()).Within(1e-12));
        var perChannel = x.Reshape(2, 4, 6).LayerNorm([6]).Reshape(2, 4, 3, 2);
        Assert.That(x.GroupNorm(4).ToArray(), Is.EqualTo(perChannel.ToArray()).Within(1e-12));
    }

    [Test]
    public void BatchNorm1d_MatchesPyTorch_OnNC_AndNCL()
    {
        foreach (var (shape, tag) in new[] { (new[] { 4, 3 }, "4x3"), (new[] { 2, 3, 5 }, "2x3x5") })
        {
            var x = PyTorchReference.Seq(1.1, shape);
            var (mean, variance) = (Tensor.Zeros<double>(3), Tensor.Ones<double>(3));
            AssertMatches(x.BatchNorm1d(mean, variance, Tensor.Ones<double>(3), Tensor.Zeros<double>(3), training: true), $"bn1d_{tag}");
            AssertMatches(mean, $"bn1d_{tag}_mean");
            AssertMatches(variance, $"bn1d_{tag}_var");
            AssertMatches(x.BatchNorm1d(mean, variance), $"bn1d_{tag}_eval");
        }
    }

    [Test]
    public void Conv1d_MatchesPyTorch_AndConv2dOverOneRow()
    {
        var x = PyTorchReference.Seq(0.8, 2, 3, 7);
        AssertMatches(x.Conv1d(PyTorchReference.Seq(0.35, 4, 3, 3), PyTorchReference.Seq(2.0, 4), stride: 2, padding: 1, dilation: 2), "conv1d_s2_p1_d2");
        AssertMatches(x.Conv1d(PyTorchReference.Seq(0.6, 6, 1, 2), groups: 3), "conv1d_groups3");
        AssertMatches(x.Conv1d(PyTorchReference.Seq(0.35, 4, 3, 4), padding: "same"), "conv1d_same");

        // Unbatched [C, L] is the batch of one.
        var w = PyTorchReference.Seq(0.35, 4, 3, 3);
        Assert.That(x[0].Conv1d(w, padding: 1).ToArray(), Is.EqualTo(x[0..1].Conv1d(w, padding: 1).ToArray()));
    }

    [Test]
    public void Dropout2d_ZeroesWholeChannels_ScalesSurvivors_AndIsTheIdentityInEvaluation()
    {
        var x = Tensor.Full([8, 50, 3, 2], 3.0, requiresGrad: true);
        var y = x.Dropout2d(0.25, generator: new Generator(5));
        Assert.That(y.ToArray(), Is.EqualTo(x.Dropout2d(0.25, generator: new Generator(5)).ToArray()));
        var kept = 0;
        var planes = y.Reshape(400, 6).ToArray();
        for (var p = 0; p < 400; p++)
        {
            var plane = planes.AsSpan(p * 6, 6).ToArray();
            Assert.That(plane.All(v => v == 0) || plane.All(v => v == 4), "a channel is all dropped or all kept, survivors 3 / (1 − 0.25) = 4");
            kept += plane[0] == 4 ? 1 : 0;
        }

        Assert.That(kept, Is.InRange(300 - 40, 300 + 40), "about 1 − p of 400 channels survive (±4.6σ)");
        y.Backward(Tensor.Full([8, 50, 3, 2], 1.0));
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(y.ToArray().Select(v => v / 3).ToArray()).Within(1e-15), "dx = g ⊙ mask");

        Assert.That(ReferenceEquals(x.Dropout2d(0.5, training: false), x));
        Assert.That(ReferenceEquals(x.Dropout2d(0), x));
        Assert.That(x.Dropout2d(1).ToArray().All(v => v == 0));
        var unbatched = Tensor.Ones<double>(40, 2, 2).Dropout2d(0.5, generator: new Generator(1)).Reshape(40, 4).ToArray();
        Assert.That(Enumerable.Range(0, 40).All(c => unbatched[(c * 4)..(c * 4 + 4)].Distinct().Count() == 1), "[C, H, W]: one draw per channel");
    }

    // ---- Arguments ----

    [Test]
    public void Arguments_AreChecked_WithOpArgumentAndShapes()
    {
        var x4 = Tensor.Zeros<float>(2, 6, 4, 4);
        void Throws(TestDelegate call, params string[] parts)
        {
            var e = Assert.Throws(Is.InstanceOf<ArgumentException>(), call);
            foreach (var part in parts)
            {
                Assert.That(e!.Message, Does.Contain(part));
            }
        }

        Throws(() => x4.GroupNorm(4), "GroupNorm", "numGroups", "6 channels", "[2, 6, 4, 4]");
        Throws(() => x4.GroupNorm(0), "GroupNorm", "numGroups");
        Throws(() => Tensor.Zeros<float>(6).GroupNorm(2), "GroupNorm", "rank 1", "[6]");
        Throws(() => x4.GroupNorm(2, Tensor.Ones<float>(4)), "GroupNorm", "weight", "[6]", "[4]");
        Throws(() => x4.GroupNorm(2, eps: double.NaN), "GroupNorm", "eps");

        Throws(() => x4.BatchNorm1d(Tensor.Zeros<float>(6), Tensor.Ones<float>(6)), "BatchNorm1d", "2-D", "[2, 6, 4, 4]");
        Throws(() => Tensor.Zeros<float>(2, 3).BatchNorm1d(Tensor.Zeros<float>(4), Tensor.Ones<float>(3)), "BatchNorm1d", "runningMean", "[3]", "[4]");
        Throws(() => Tensor.Zeros<float>(1, 3).BatchNorm1d(null, null, training: true), "BatchNorm1d", "more than 1 value");

        var x3 = Tensor.Zeros<float>(2, 4, 10);
        Throws(() => x4.Conv1d(Tensor.Zeros<float>(3, 4, 3)), "Conv1d", "rank 4", "[2, 6, 4, 4]");
        Throws(() => x3.Conv1d(Tensor.Zeros<float>(3, 4, 3, 1)), "Conv1d", "weight", "[3, 4, 3, 1]");
        Throws(() => x3.Conv1d(Tensor.Zeros<float>(3, 3, 3)), "Conv1d", "4 channels", "[3, 3, 3]");
        Throws(() => x3.Conv1d(Tensor.Zeros<float>(3, 2, 3), groups: 2), "Conv1d", "groups 2", "3 filters");
        Throws(() => x3.Conv1d(Tensor.Zeros<float>(3, 4, 11)), "Conv1d", "too small", "[2, 4, 10]");
        Throws(() => x3.Conv1d(Tensor.Zeros<float>(3, 4, 3), stride: 2, padding: "same"), "Conv1d", "same", "stride");
        Throws(() => x3.Conv1d(Tensor.Zeros<float>(3, 4, 3), padding: "full"), "Conv1d", "full");
        Throws(() => x3.Conv1d(Tensor.Zeros<float>(3, 4, 3), padding: -1), "Conv1d", "padding");
        Throws(() => x3.Conv1d(Tensor.Zeros<float>(3, 4, 3), Tensor.Zeros<float>(4)), "Conv1d", "bias", "[3]", "[4]");
        Throws(() => x3.Conv1d(Tensor.Zeros<float>(3, 4, 3), stride: 0), "Conv1d", "stride");

        Throws(() => Tensor.Zeros<float>(1, 2, 3, 4, 5).Dropout2d(), "Dropout2d", "rank 5", "[1, 2, 3, 4, 5]");
        Throws(() => Tensor.Zeros<float>(4, 4).Dropout2d(), "Dropout2d", "rank 2", "[4, 4]");
        Throws(() => x4.Dropout2d(-0.1), "Dropout2d", "-0.1", "[2, 6, 4, 4]");

        Throws(() => x4.Interpolate([8, 8], mode: "bicubic"), "Interpolate", "mode", "bicubic", "[2, 6, 4, 4]");
        Throws(() => x3.Interpolate([8, 8], mode: "bilinear"), "Interpolate", "bilinear", "4-D", "[2, 4, 10]");
        Throws(() => x4.Interpolate([8], mode: "linear"), "Interpolate", "linear", "3-D");
        Throws(() => Tensor.Zeros<float>(2, 4).Interpolate([8]), "Interpolate", "nearest", "[2, 4]");
        Throws(() => x4.Interpolate([8, 8], alignCorners: true), "Interpolate", "alignCorners");
        Throws(() => x4.Interpolate([8, 8], [2.0]), "Interpolate", "exactly one", "size [8, 8]");
        Throws(() => x4.Interpolate(), "Interpolate", "exactly one");
        Throws(() => x4.Interpolate([8, 8, 8]), "Interpolate", "size", "[8, 8, 8]");
        Throws(() => x4.Interpolate([0, 8]), "Interpolate", "size");
        Throws(() => x4.Interpolate(-2.0), "Interpolate", "scaleFactor");
        Throws(() => x4.Interpolate(double.PositiveInfinity), "Interpolate", "scaleFactor");
        Throws(() => x4.Interpolate(0.1), "Interpolate", "output size 0");
    }
}
