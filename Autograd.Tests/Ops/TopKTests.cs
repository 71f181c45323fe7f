using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Ops;

/// <summary>TopK over generated shapes, dims, k, order flags and views; PyTorch's values, ties and NaN; errors.</summary>
[Category("GradProperty")]
public class TopKTests
{
    /// <summary>Rank 1-3, dim, k = kq·size/4 rounded (0 to all), largest, sorted.</summary>
    private static CaseSpec Spec() => new CaseSpec()
        .Int("rank", 1, 3).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 5).Int("dim", 0, 2).Int("kq", 0, 4).Int("largest", 0, 1).Int("sorted", 0, 1)
        .Views(1).Where(c => c["dim"] < c["rank"]);

    [Test]
    public void TopK_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(Spec(), c =>
        {
            var shape = TestData.Suffix([c["d0"], c["d1"], c["d2"]], c["rank"], 0);
            var (x, vx) = Inputs.Make(shape, c.View(0), c.Generator());
            var k = (shape[c["dim"]] * c["kq"] + 2) / 4;
            return GradCheck.Check(t => vx(t[0]).TopK(k, c["dim"], c["largest"] == 1, c["sorted"] == 1).Values, [x]);
        });

    [Test]
    public void TopK_SecondOrderMatchesFiniteDifferences() => SecondOrderTests.SecondOrder(TopK_GradientMatchesFiniteDifferences);

    [Test]
    public void TopK_MatchesPyTorch()
    {
        var x = Tensor.FromArray(new[] { 1.0, 5, 3, 4, 2 });
        var (v, i) = x.TopK(3);   // torch.topk(torch.tensor([1., 5, 3, 4, 2]), 3)
        Assert.That(v.ToArray(), Is.EqualTo(new[] { 5.0, 4, 3 }));
        Assert.That(i.ToArray(), Is.EqualTo(new long[] { 1, 3, 2 }));
        (v, i) = x.TopK(2, largest: false);
        Assert.That(v.ToArray(), Is.EqualTo(new[] { 1.0, 2 }));
        Assert.That(i.ToArray(), Is.EqualTo(new long[] { 0, 4 }));
        (v, i) = x.TopK(3, sorted: false);
        Assert.That(i.ToArray(), Is.EqualTo(new long[] { 1, 2, 3 }), "unsorted: in the order of their positions");
        Assert.That(v.ToArray(), Is.EqualTo(new[] { 5.0, 3, 4 }));

        // Along dim 0 of a transposed matrix: m = [[1, 6], [4, 2], [3, 5]].
        var m = Tensor.FromArray(new[] { 1.0, 4, 3, 6, 2, 5 }, [2, 3]).Transpose(0, 1);
        (v, i) = m.TopK(2, dim: 0);
        Assert.That(v.Shape, Is.EqualTo(new[] { 2, 2 }));
        Assert.That(v.ToArray(), Is.EqualTo(new[] { 4.0, 6, 3, 5 }));
        Assert.That(i.ToArray(), Is.EqualTo(new long[] { 1, 0, 2, 2 }));

        // Ties by position; NaN above every number (largest first, smallest last).
        (v, i) = Tensor.FromArray(new[] { 2.0, double.NaN, 2, 7 }).TopK(3);
        Assert.That(i.ToArray(), Is.EqualTo(new long[] { 1, 3, 0 }));
        Assert.That(double.IsNaN(v.ToArray()[0]));
        (_, i) = Tensor.FromArray(new[] { 2.0, double.NaN, 2, 7 }).TopK(4, largest: false);
        Assert.That(i.ToArray(), Is.EqualTo(new long[] { 0, 2, 3, 1 }));

        (v, i) = Tensor.Scalar(3.0).TopK(1);
        Assert.That(v.Rank, Is.EqualTo(0));
        Assert.That(i.Item(), Is.EqualTo(0));
        Assert.That(x.TopK(0).Values.Shape, Is.EqualTo(new[] { 0 }));
    }

    [Test]
    public void TopK_EmptyDimensions()
    {
        var x = Tensor.Zeros<double>(2, 0);
        x.RequiresGrad = true;
        var (v, i) = x.TopK(0);
        Assert.That(v.Shape, Is.EqualTo(new[] { 2, 0 }));
        Assert.That(i.Shape, Is.EqualTo(new[] { 2, 0 }));
        v.Sum().Backward();
        Assert.That(x.Grad!.Shape, Is.EqualTo(new[] { 2, 0 }));
        Assert.That(Tensor.Zeros<double>(0, 3).TopK(2).Values.Shape, Is.EqualTo(new[] { 0, 2 }));
    }

    [Test]
    public void TopK_GradientGoesToTheChosenPositions()
    {
        var x = Tensor.FromArray(new[] { 1.0, 5, 3, 4, 2, 0, 9, 8 }, [2, 4], requiresGrad: true);
        var (v, _) = x.TopK(2, dim: 1);
        v.Backward(Tensor.FromArray(new[] { 10.0, 20, 30, 40 }, [2, 2]));
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 0.0, 10, 0, 20, 0, 0, 30, 40 }));
    }

    [Test]
    public void TopK_BadArguments_NameTheOpAndShape()
    {
        var x = Tensor.Zeros<double>(2, 3);
        var ex = Assert.Throws<ArgumentException>(() => x.TopK(4));
        Assert.That(ex!.Message, Does.Contain("TopK").And.Contain("k 4").And.Contain("size 3").And.Contain("[2, 3]"));
        Assert.That(ex.ParamName, Is.EqualTo("k"));
        Assert.Throws<ArgumentException>(() => x.TopK(-1));
        ex = Assert.Throws<ArgumentException>(() => x.TopK(1, dim: 2));
        Assert.That(ex!.Message, Does.Contain("TopK").And.Contain("[2, 3]"));
    }
}
