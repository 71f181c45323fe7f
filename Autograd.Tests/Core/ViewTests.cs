using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Core;

/// <summary>Views share storage, have PyTorch's geometry, copy only when they must, and are differentiable.</summary>
[Category("GradProperty")]
public class ViewTests
{
    private static CaseSpec Spec3() => new CaseSpec().Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4).Views(1);

    private static void Check(CaseSpec spec, Func<Case, int[]> shape, Func<Case, Tensor<double>, Tensor<double>> view) =>
        GradProperty.Check(spec, c =>
        {
            var (x, vx) = Inputs.Make(shape(c), c.View(0), c.Generator());
            return GradCheck.Check(t => view(c, vx(t[0])), [x]);
        });

    private static int[] Full(Case c) => [c["d0"], c["d1"], c["d2"]];

    [Test]
    public void Reshape_GradientMatchesFiniteDifferences() =>
        Check(Spec3().Int("form", 0, 2), Full, (c, x) => c["form"] switch
        {
            0 => x.Reshape(-1),
            1 => x.Reshape(c["d0"] * c["d1"], c["d2"]),
            _ => x.Reshape(c["d0"], -1, 1),
        });

    [Test]
    public void View_GradientMatchesFiniteDifferences() =>
        Check(Spec3(), Full, (c, x) => x.Contiguous().View(c["d0"] * c["d1"] * c["d2"]));

    [Test]
    public void Flatten_GradientMatchesFiniteDifferences() => Check(Spec3(), Full, (c, x) => x.Flatten(1));

    [Test]
    public void Unsqueeze_GradientMatchesFiniteDifferences() => Check(Spec3().Int("dim", -4, 3), Full, (c, x) => x.Unsqueeze(c["dim"]));

    [Test]
    public void Squeeze_GradientMatchesFiniteDifferences() => Check(Spec3().Int("dim", 0, 2), Full, (c, x) => x.Squeeze(c["dim"]));

    [Test]
    public void Transpose_GradientMatchesFiniteDifferences() =>
        Check(Spec3().Int("a", 0, 2).Int("b", 0, 2), Full, (c, x) => x.Transpose(c["a"], c["b"]));

    [Test]
    public void Permute_GradientMatchesFiniteDifferences() =>
        Check(Spec3().Int("p", 0, 5), Full, (c, x) => x.Permute(Permutations[c["p"]]));

    [Test]
    public void Slice_GradientMatchesFiniteDifferences() =>
        Check(Spec3().Int("dim", 0, 2).Int("start", -3, 3).Int("end", -3, 4).Int("step", 1, 3), Full,
            (c, x) => x.Slice(c["dim"], c["start"], c["end"], c["step"]));

    /// <summary>
    /// Several sub-views of one computed (non-leaf) tensor, as an attention's q, k, v split of its packed projection:
    /// the pass adds every sub-view's gradient after the first straight into the tensor's pending total. Split into
    /// chunks, overlapping Narrows, and a Select, each weighted differently.
    /// </summary>
    [Test]
    public void SubViewsOfOneComputedTensor_GradientMatchesFiniteDifferences() =>
        Check(Spec3().Int("form", 0, 2).Int("chunk", 1, 2), c => [c["d0"], c["d1"], c["d2"] + 2], (c, x) =>
        {
            var y = x * 1.5 + 0.25;
            var w = c["d2"] + 2;
            return c["form"] switch
            {
                0 => y.Split(c["chunk"], 2).Select((part, i) => part * (i + 1.0)).Aggregate((a, b) => a.Sum(2, keepDim: true) + b.Sum(2, keepDim: true)),
                1 => y.Narrow(2, 0, w - 1) * 2.0 + y.Narrow(2, 1, w - 1) * y.Narrow(2, 0, w - 1),
                _ => y.Select(2, 0) * 3.0 + y.Select(2, w - 1) - y.Narrow(2, 1, 1).Squeeze(2) * 0.5,
            };
        });

    [Test]
    public void Narrow_GradientMatchesFiniteDifferences() =>
        Check(Spec3().Int("start", 0, 3).Int("length", 0, 4).Where(c => c["start"] + c["length"] <= c["d2"]), Full,
            (c, x) => x.Narrow(2, c["start"], c["length"]));

    [Test]
    public void Select_GradientMatchesFiniteDifferences() =>
        Check(Spec3().Int("dim", 0, 2).Int("index", -1, 0), Full, (c, x) => x.Select(c["dim"], c["index"]));

    [Test]
    public void Expand_GradientMatchesFiniteDifferences() =>
        // The expanded row is the leaf itself, a row picked out of a taller leaf (non-zero storage offset),
        // or a row of a transposed leaf (offset and a non-unit inner stride); the result overlaps itself.
        GradProperty.Check(
            new CaseSpec().Int("d0", 1, 3).Int("d1", 1, 3).Int("lead", 1, 3).Int("source", 0, 2).Int("row", 0, 2).Views(1),
            c =>
            {
                var (rows, d1) = (c["source"] == 0 ? 1 : 3, c["d1"]);
                var (x, vx) = Inputs.Make(c["source"] == 2 ? [d1, rows] : [rows, d1], c.View(0), c.Generator());
                return GradCheck.Check(
                    t =>
                    {
                        var leaf = vx(t[0]);
                        var source = c["source"] switch
                        {
                            0 => leaf,
                            1 => leaf.Narrow(0, c["row"], 1),
                            _ => leaf.Transpose(0, 1).Narrow(0, c["row"], 1),
                        };
                        return source.Expand(c["lead"], c["d0"], d1);
                    },
                    [x]);
            });

    [Test]
    public void SumToSize_GradientMatchesFiniteDifferences() =>
        Check(Spec3().Int("ones", 0, 7), Full, (c, x) => x.SumToSize(TestData.Suffix(Full(c), 2, c["ones"])));

    [Test]
    public void Contiguous_GradientMatchesFiniteDifferences() => Check(Spec3(), Full, (c, x) => x.Contiguous());

    [Test]
    public void Clone_GradientMatchesFiniteDifferences() => Check(Spec3(), Full, (c, x) => x.Clone());

    [Test]
    public void AsStrided_GradientMatchesFiniteDifferences() =>
        // Overlapping sliding windows of a 1-D leaf: every element is read by several windows.
        GradProperty.Check(
            new CaseSpec().Int("n", 1, 8).Int("window", 1, 3).Int("step", 1, 2).Where(c => c["window"] <= c["n"]),
            c =>
            {
                var (x, _) = Inputs.Make([c["n"]], ViewKind.Contiguous, c.Generator());
                var count = (c["n"] - c["window"]) / c["step"] + 1;
                return GradCheck.Check(t => t[0].AsStrided([count, c["window"]], [c["step"], 1], 0).Mul(t[0].AsStrided([count, c["window"]], [c["step"], 1], 0)), [x]);
            });

    [Test]
    public void AsStrided_OverlappingAtAnOffset_GradientMatchesFiniteDifferences() =>
        // Any geometry: strides 0..3 in each dimension (0 repeats an element, a stride smaller than the
        // other dimension's extent overlaps rows), a storage offset of 0..3, over an input that is the leaf,
        // a transposed leaf, an expanded (self-overlapping) leaf, or a narrowed leaf whose own offset is the default.
        GradProperty.Check(
            new CaseSpec().Int("n0", 1, 3).Int("n1", 1, 3).Int("s0", 0, 3).Int("s1", 0, 3).Int("offset", 0, 3).Int("extra", 0, 2).Int("source", 0, 3),
            c =>
            {
                var span = (c["n0"] - 1) * c["s0"] + (c["n1"] - 1) * c["s1"] + 1;
                var length = c["offset"] + span + c["extra"];
                int[] leafShape = c["source"] switch
                {
                    1 => [(length + 1) / 2, 2],
                    2 => [1, length],
                    3 => [1 + span + c["extra"]],
                    _ => [length],
                };
                var (x, _) = Inputs.Make(leafShape, ViewKind.Contiguous, c.Generator());
                int[] shape = [c["n0"], c["n1"]];
                int[] strides = [c["s0"], c["s1"]];
                return GradCheck.Check(
                    t =>
                    {
                        var y = c["source"] switch
                        {
                            1 => t[0].Transpose(0, 1).AsStrided(shape, strides, c["offset"]),
                            2 => t[0].Expand(2, length).AsStrided(shape, strides, c["offset"]),
                            3 => t[0].Narrow(0, 1, leafShape[0] - 1).AsStrided(shape, strides),
                            _ => t[0].AsStrided(shape, strides, c["offset"]),
                        };
                        return y.Mul(y);
                    },
                    [x]);
            });

    [Test]
    public void ViewsShareStorageAndHavePyTorchStrides()
    {
        var x = Tensor.Arange(24.0).Reshape(2, 3, 4);
        Assert.That(x.Strides, Is.EqualTo(new[] { 12, 4, 1 }));
        var t = x.Transpose(0, 2);
        Assert.That(t.Shape, Is.EqualTo(new[] { 4, 3, 2 }));
        Assert.That(t.Strides, Is.EqualTo(new[] { 1, 4, 12 }));
        Assert.That(t.Storage, Is.SameAs(x.Storage));
        Assert.That(t.IsContiguous, Is.False);
        Assert.That(t.At(3, 2, 1), Is.EqualTo(x.At(1, 2, 3)));
        var s = x.Slice(2, 1, 4, 2);
        Assert.That(s.Shape, Is.EqualTo(new[] { 2, 3, 2 }));
        Assert.That(s.Strides, Is.EqualTo(new[] { 12, 4, 2 }));
        Assert.That(s.Offset, Is.EqualTo(1));
        Assert.That(s.ToArray()[..4], Is.EqualTo(new[] { 1.0, 3.0, 5.0, 7.0 }));
        Assert.That(x.Slice(1, -2, 100).Shape, Is.EqualTo(new[] { 2, 2, 4 }));
        Assert.That(x.Select(1, -1).ToArray()[..4], Is.EqualTo(new[] { 8.0, 9.0, 10.0, 11.0 }));
        var e = Tensor.FromArray(new[] { 1.0, 2.0 }, [2, 1]).Expand(3, 2, 4);
        Assert.That(e.Strides, Is.EqualTo(new[] { 0, 1, 0 }));
        Assert.That(e.ToArray().Distinct(), Is.EquivalentTo(new[] { 1.0, 2.0 }));
        Assert.That(x.Permute(2, 0, 1).Strides, Is.EqualTo(new[] { 1, 12, 4 }));
        Assert.That(x.Unsqueeze(1).Shape, Is.EqualTo(new[] { 2, 1, 3, 4 }));
        Assert.That(x.Unsqueeze(-1).Shape, Is.EqualTo(new[] { 2, 3, 4, 1 }));
        Assert.That(x.Unsqueeze(1).Squeeze(1).Shape, Is.EqualTo(new[] { 2, 3, 4 }));
    }

    [Test]
    public void Reshape_IsAViewWhenStridesAllowAndACopyOtherwise()
    {
        var x = Tensor.Arange(24.0).Reshape(2, 3, 4);
        var merged = x.Permute(1, 0, 2).Reshape(3, 8);   // dims 0,1 swapped: cannot merge without a copy
        Assert.That(merged.Storage, Is.Not.SameAs(x.Storage));
        Assert.That(merged.ToArray()[..8], Is.EqualTo(new[] { 0.0, 1, 2, 3, 12, 13, 14, 15 }));
        var split = x.Transpose(1, 2).Reshape(2, 2, 2, 3); // splitting a dim of a transposed view is a view
        Assert.That(split.Storage, Is.SameAs(x.Storage));
        Assert.That(split.ToArray(), Is.EqualTo(x.Transpose(1, 2).ToArray()));
        var ex = Assert.Throws<ArgumentException>(() => x.Permute(1, 0, 2).View(3, 8));
        Assert.That(ex!.Message, Does.Contain("View").And.Contain("[3, 2, 4]").And.Contain("Reshape"));
        Assert.That(x.Contiguous(), Is.SameAs(x));
        Assert.That(x.Transpose(0, 1).Contiguous().IsContiguous, Is.True);
    }

    [Test]
    public void AsStrided_IsTheWindowTrick()
    {
        // The 2x2 windows with stride 1 of a 3x3 image: shape [2, 2, 2, 2], strides [3, 1, 3, 1].
        var img = Tensor.Arange(9.0).Reshape(3, 3);
        var windows = img.AsStrided([2, 2, 2, 2], [3, 1, 3, 1]);
        Assert.That(windows.Storage, Is.SameAs(img.Storage));
        Assert.That(windows.Select(0, 1).Select(0, 1).ToArray(), Is.EqualTo(new[] { 4.0, 5.0, 7.0, 8.0 }));
        var ex = Assert.Throws<ArgumentException>(() => img.AsStrided([2, 2, 2, 2], [3, 1, 3, 2]));
        Assert.That(ex!.Message, Does.Contain("AsStrided").And.Contain("9 elements"));
        Assert.Throws<ArgumentException>(() => img.AsStrided([2], [-1]));
        Assert.Throws<ArgumentException>(() => img.AsStrided([2], [1, 1]));
        Assert.Throws<ArgumentException>(() => img.AsStrided([2], [1], 8));
    }

    [Test]
    public void AsStrided_OverAnExpandedInputSharesTheGradient()
    {
        // PyTorch's rule: storage elements seen several times by the input split their gradient.
        var leaf = Tensor.FromArray(new[] { 1.0, 2.0 }, [2], requiresGrad: true);
        var expanded = leaf.Expand(3, 2);
        var y = expanded.AsStrided([2], [1], 0);
        y.Backward(Tensor.FromArray(new[] { 3.0, 6.0 }, [2]));
        Assert.That(leaf.Grad!.ToArray(), Is.EqualTo(new[] { 3.0, 6.0 }).Within(1e-12));
    }

    [Test]
    public void ViewArguments_ThatWouldOverflowOrReachOutside_AreRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Ones<double>(1).Expand(100000, 100000));
        Assert.That(ex!.Message, Does.Contain("Expand").And.Contain("[100000, 100000]"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<double>(3).Narrow(0, 1, int.MaxValue));
        Assert.That(ex!.Message, Does.Contain("Narrow").And.Contain("[3]"));
        Assert.That(Assert.Throws<ArgumentException>(() => Tensor.Zeros<double>(3).Narrow(0, 4, 0))!.Message, Does.Contain("Narrow"));
        Assert.That(Assert.Throws<ArgumentException>(() => Tensor.Scalar(2.0).Narrow(0, 0, 0))!.Message, Does.Contain("Narrow").And.Contain("rank-0"));
        Assert.That(Assert.Throws<ArgumentException>(() => Tensor.Scalar(2.0).Select(0, 0))!.Message, Does.Contain("Select").And.Contain("rank-0"));
        Assert.That(Assert.Throws<ArgumentException>(() => Tensor.Zeros<double>(4).AsStrided([0], [1], 100))!.Message, Does.Contain("AsStrided"));
        Assert.That(Tensor.Zeros<double>(4).AsStrided([0], [1], 4).Numel, Is.EqualTo(0));
        Assert.That(Tensor.Zeros<double>(3).Narrow(0, 3, 0).Shape, Is.EqualTo(new[] { 0 }));
    }

    [Test]
    public void BadViewArguments_NameOpAndShape()
    {
        var x = Tensor.Zeros<float>(2, 3);
        Assert.That(Assert.Throws<ArgumentException>(() => x.Reshape(4, 2))!.Message, Does.Contain("Reshape").And.Contain("[2, 3]"));
        Assert.That(Assert.Throws<ArgumentException>(() => x.Reshape(-1, -1))!.Message, Does.Contain("Reshape"));
        Assert.That(Assert.Throws<ArgumentException>(() => x.Transpose(0, 2))!.Message, Does.Contain("Transpose").And.Contain("rank 2"));
        Assert.That(Assert.Throws<ArgumentException>(() => x.Permute(0, 0))!.Message, Does.Contain("Permute"));
        Assert.That(Assert.Throws<ArgumentException>(() => x.Narrow(1, 2, 2))!.Message, Does.Contain("Narrow").And.Contain("[2, 3]"));
        Assert.That(Assert.Throws<ArgumentException>(() => x.Select(0, 2))!.Message, Does.Contain("Select").And.Contain("[2, 3]"));
        Assert.That(Assert.Throws<ArgumentException>(() => x.Slice(0, 0, 1, 0))!.Message, Does.Contain("Slice").And.Contain("step"));
        Assert.That(Assert.Throws<ArgumentException>(() => x.Expand(2, 4))!.Message, Does.Contain("Expand").And.Contain("[2, 3]"));
        Assert.That(Assert.Throws<ArgumentException>(() => x.SumToSize(4))!.Message, Does.Contain("SumToSize").And.Contain("[2, 3]"));
        Assert.That(Assert.Throws<ArgumentException>(() => _ = x.At(0, 3))!.Message, Does.Contain("[2, 3]"));
    }

    private static readonly int[][] Permutations = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
}
