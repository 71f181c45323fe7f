using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Ops;

/// <summary>
/// Masks and accuracy as PyTorch users write them: comparison operators, IndexTensor equality and Eq,
/// boolean-mask indexing and MaskedSelect (gradient properties), and Tensor.Max/Min with indices.
/// </summary>
[Category("GradProperty")]
public class MaskTests
{
    [Test]
    public void ComparisonOperators_GiveTheMasksOfTheNamedComparisons()
    {
        var x = Tensor.FromArray(new[] { -1f, 0, 2, float.NaN });
        var y = Tensor.FromArray(new[] { 0f, 0, 3, 1 });
        Assert.That((x > 0f).ToArray(), Is.EqualTo(new[] { 0f, 0, 1, 0 }));
        Assert.That((x > 0).ToArray(), Is.EqualTo(x.Gt(0).ToArray()), "an int literal");
        Assert.That((x >= 0.0).ToArray(), Is.EqualTo(new[] { 0f, 1, 1, 0 }), "a double literal");
        Assert.That((x < 0f).ToArray(), Is.EqualTo(new[] { 1f, 0, 0, 0 }));
        Assert.That((x <= 0f).ToArray(), Is.EqualTo(new[] { 1f, 1, 0, 0 }));
        Assert.That((0f < x).ToArray(), Is.EqualTo(new[] { 0f, 0, 1, 0 }));
        Assert.That((x >= 0f).ToArray(), Is.EqualTo(new[] { 0f, 1, 1, 0 }));
        Assert.That((0f >= x).ToArray(), Is.EqualTo(new[] { 1f, 1, 0, 0 }));
        Assert.That((0f <= x).ToArray(), Is.EqualTo(new[] { 0f, 1, 1, 0 }));
        Assert.That((0f > x).ToArray(), Is.EqualTo(new[] { 1f, 0, 0, 0 }));
        Assert.That((0f == x).ToArray(), Is.EqualTo(new[] { 0f, 1, 0, 0 }));
        Assert.That((0f != x).ToArray(), Is.EqualTo(new[] { 1f, 0, 1, 1 }));
        Assert.That((x < 0.5).ToArray(), Is.EqualTo(new[] { 1f, 1, 0, 0 }));
        Assert.That((x <= 2.0).ToArray(), Is.EqualTo(new[] { 1f, 1, 1, 0 }));
        Assert.That((x > 1.5).ToArray(), Is.EqualTo(new[] { 0f, 0, 1, 0 }));
        Assert.That((x != 2.0).ToArray(), Is.EqualTo(new[] { 1f, 1, 0, 1 }));
        Assert.That((x <= y).ToArray(), Is.EqualTo(new[] { 1f, 1, 1, 0 }));
        Assert.That((x > y).ToArray(), Is.EqualTo(new[] { 0f, 0, 0, 0 }));
        Assert.That((x == 0f).ToArray(), Is.EqualTo(new[] { 0f, 1, 0, 0 }));
        Assert.That((x != 0f).ToArray(), Is.EqualTo(new[] { 1f, 0, 1, 1 }), "NaN is unequal to everything");
        Assert.That((x == 2.0).ToArray(), Is.EqualTo(new[] { 0f, 0, 1, 0 }));
        Assert.That((x < y).ToArray(), Is.EqualTo(new[] { 1f, 0, 1, 0 }));
        Assert.That((x >= y).ToArray(), Is.EqualTo(new[] { 0f, 1, 0, 0 }));
        Assert.That((x.Reshape(4, 1) > y).Shape, Is.EqualTo(new[] { 4, 4 }), "broadcasts");

        var w = Tensor.FromArray(new[] { 1.0, -2 }, requiresGrad: true);
        Assert.That((w > 0.0).RequiresGrad, Is.False, "a mask is never recorded");

        // Tensor == tensor stays reference identity (a bool): the mask is Eq.
        bool same = x == y;
        Assert.That(same, Is.False);
    }

    [Test]
    public void IndexTensor_EqualityIsByValue_AndEqGivesTheMask()
    {
        var pred = IndexTensor.FromArray([3, 1, 4, 1]);
        var labels = IndexTensor.FromArray([3, 2, 4, 0]);
        Assert.That(pred == IndexTensor.FromArray([3, 1, 4, 1]), Is.True, "same shape and values");
        Assert.That(pred != labels, Is.True);
        Assert.That(pred.Equals(IndexTensor.FromArray([3L, 1, 4, 1], [4])), Is.True);
        Assert.That(pred == IndexTensor.FromArray([3, 1, 4, 1], [2, 2]), Is.False, "shape counts");
        Assert.That(pred.GetHashCode(), Is.EqualTo(IndexTensor.FromArray([3, 1, 4, 1]).GetHashCode()));
        IndexTensor? none = null;
        Assert.That(pred == none, Is.False);
        Assert.That(none == null, Is.True);

        var hits = pred.Eq(labels);
        Assert.That(hits.ToArray(), Is.EqualTo(new long[] { 1, 0, 1, 0 }));
        Assert.That(hits.Sum(), Is.EqualTo(2));
        Assert.That((float)hits.Float().Mean(), Is.EqualTo(0.5f), "accuracy as PyTorch's (pred == y).float().mean()");
        Assert.That(pred.Ne(labels).ToArray(), Is.EqualTo(new long[] { 0, 1, 0, 1 }));
        Assert.That(pred.Eq(1).ToArray(), Is.EqualTo(new long[] { 0, 1, 0, 1 }));

        // Broadcasting: [2, 1] against [3].
        var column = IndexTensor.FromArray([1, 2], [2, 1]);
        var row = IndexTensor.FromArray([1, 2, 1]);
        var eq = column.Eq(row);
        Assert.That(eq.Shape, Is.EqualTo(new[] { 2, 3 }));
        Assert.That(eq.ToArray(), Is.EqualTo(new long[] { 1, 0, 1, 0, 1, 0 }));
        var ex = Assert.Throws<ArgumentException>(() => pred.Eq(IndexTensor.FromArray([1, 2, 3])))!;
        Assert.That(ex.Message, Does.Contain("IndexTensor.Eq").And.Contain("[4]").And.Contain("[3]"));
    }

    [Test]
    public void MaskIndexing_SelectsElementsOrRows_AsPyTorch()
    {
        var x = Tensor.FromArray(new[] { 1.0, -2, 3, -4, 5, -6 }, [2, 3]);

        // x[x > 0] → tensor([1., 3., 5.])
        Assert.That(x[x > 0.0].ToArray(), Is.EqualTo(new[] { 1.0, 3, 5 }));
        Assert.That(x[x > 0.0].Shape, Is.EqualTo(new[] { 3 }));

        // Rows: x[torch.tensor([False, True])] → [[-4., 5., -6.]]
        var rows = x[Tensor.FromArray(new[] { 0.0, 1 })];
        Assert.That(rows.Shape, Is.EqualTo(new[] { 1, 3 }));
        Assert.That(rows.ToArray(), Is.EqualTo(new[] { -4.0, 5, -6 }));

        // A transposed view selects in its own row-major order.
        Assert.That(x.Transpose(0, 1)[x.Transpose(0, 1) < 0.0].ToArray(), Is.EqualTo(new[] { -4.0, -2, -6 }));

        // MaskedSelect broadcasts the mask: a column mask [2, 1] picks whole rows.
        Assert.That(x.MaskedSelect(Tensor.FromArray(new[] { 1.0, 0 }, [2, 1])).ToArray(), Is.EqualTo(new[] { 1.0, -2, 3 }));

        var ex = Assert.Throws<ArgumentException>(() => _ = x[Tensor.Ones<double>(3)])!;
        Assert.That(ex.Message, Does.Contain("Index").And.Contain("[3]").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => x.MaskedSelect(Tensor.Ones<double>(4)))!;
        Assert.That(ex.Message, Does.Contain("MaskedSelect").And.Contain("[4]"));
    }

    [Test]
    public void MaskedFillInPlace_IsTheMaskedAssignment()
    {
        // x[x < 0] = 0 in PyTorch.
        var x = Tensor.FromArray(new[] { 1f, -2, 3, -4 }, [2, 2]);
        var version = x.Storage.Version;
        Assert.That(x.MaskedFillInPlace(x < 0f, 0f), Is.SameAs(x));
        Assert.That(x.ToArray(), Is.EqualTo(new[] { 1f, 0, 3, 0 }));
        Assert.That(x.Storage.Version, Is.GreaterThan(version));

        // A row mask broadcasts; a view writes through to its base.
        var y = Tensor.Zeros<float>(2, 3);
        y.Transpose(0, 1).MaskedFillInPlace(Tensor.FromArray(new[] { 1f, 0 }, [1, 2]), 5f);
        Assert.That(y.ToArray(), Is.EqualTo(new[] { 5f, 5, 5, 0, 0, 0 }));

        var w = Tensor.FromArray(new[] { 1.0, -1 }, requiresGrad: true);
        var ex = Assert.Throws<InvalidOperationException>(() => w.MaskedFillInPlace(Tensor.Ones<double>(2), 0.0))!;
        Assert.That(ex.Message, Does.Contain("MaskedFillInPlace").And.Contain("leaf"));
        Assert.Throws<ArgumentException>(() => y.MaskedFillInPlace(Tensor.Ones<float>(4), 1f));
    }

    private static CaseSpec MaskSpec() => new CaseSpec()
        .Int("rank", 1, 3).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4).Int("lead", 1, 3).Int("seed", 0, 1000).Views(1)
        .Where(c => c["lead"] <= c["rank"]);

    /// <summary>A 0/1 mask of <paramref name="shape"/>, about half ones, from the case's seed.</summary>
    private static Tensor<double> RandomMask(int[] shape, int seed)
    {
        var g = new Generator((ulong)seed);
        return Tensor.FromArray(Enumerable.Range(0, shape.Aggregate(1, (a, b) => a * b)).Select(_ => g.NextDouble() < 0.5 ? 1.0 : 0).ToArray(), shape);
    }

    [Test]
    public void MaskedSelect_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(MaskSpec(), c =>
        {
            var shape = TestData.Suffix([c["d0"], c["d1"], c["d2"]], c["rank"], 0);
            var (x, vx) = Inputs.Make(shape, c.View(0), c.Generator());
            var mask = RandomMask(shape, c["seed"]);
            var rows = RandomMask(shape[..c["lead"]], c["seed"] + 1);

            // Squared so the second-order rerun has a Hessian; both forms: x.MaskedSelect(mask) and x[rows].
            return GradCheck.Check(t => vx(t[0]).MaskedSelect(mask).Square().Sum() + vx(t[0])[rows] * 1.5, [x]);
        });

    [Test]
    public void MaskedSelect_SecondOrderMatchesFiniteDifferences() => SecondOrderTests.SecondOrder(MaskedSelect_GradientMatchesFiniteDifferences);

    [Test]
    public void MaxAndMinWithIndices_AsTorchMaxOfDim()
    {
        // torch.max(torch.tensor([[1., 5., 5.], [7., 2., nan]]), 1) → values [5., nan], indices [1, 2]
        var x = Tensor.FromArray(new[] { 1.0, 5, 5, 7, 2, double.NaN }, [2, 3], requiresGrad: true);
        var (values, indices) = Tensor.Max(x, 1);
        Assert.That(values.ToArray(), Is.EqualTo(new[] { 5.0, double.NaN }));
        Assert.That(indices.ToArray(), Is.EqualTo(new long[] { 1, 2 }));

        // The gradient goes to the position returned.
        var y = Tensor.FromArray(new[] { 1.0, 5, 5, 7, 2, 0 }, [2, 3], requiresGrad: true);
        (values, indices) = Tensor.Max(y, 1, keepDim: true);
        Assert.That(values.Shape, Is.EqualTo(new[] { 2, 1 }));
        Assert.That(indices.Shape, Is.EqualTo(new[] { 2, 1 }));
        values.Sum().Backward();
        var grad = y.Grad!.ToArray();
        for (var r = 0; r < 2; r++)
        {
            for (var j = 0; j < 3; j++)
            {
                Assert.That(grad[r * 3 + j], Is.EqualTo(j == indices.At(r, 0) ? 1.0 : 0.0), $"row {r}, column {j}");
            }
        }

        var (minValues, minIndices) = Tensor.Min(y.Detach(), 0);
        Assert.That(minValues.ToArray(), Is.EqualTo(new[] { 1.0, 2, 0 }));
        Assert.That(minIndices.ToArray(), Is.EqualTo(new long[] { 0, 1, 1 }));

        // Accuracy: predicted classes against labels.
        var logits = Tensor.FromArray(new[] { 0.1, 2, 0.3, 1, 0, 0 }, [2, 3]);
        Assert.That(Tensor.Max(logits, 1).Indices.Eq(IndexTensor.FromArray([1, 2])).Sum(), Is.EqualTo(1));
        Assert.Throws<ArgumentException>(() => Tensor.Max(logits, 2));
    }
}
