using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Ops;

/// <summary>Sort over generated shapes, dims, orders and views; PyTorch's values, stability and NaN; errors.</summary>
[Category("GradProperty")]
public class SortTests
{
    private static CaseSpec Spec() => new CaseSpec()
        .Int("rank", 1, 3).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 5).Int("dim", 0, 2).Int("descending", 0, 1)
        .Views(1).Where(c => c["dim"] < c["rank"]);

    [Test]
    public void Sort_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(Spec(), c =>
        {
            var shape = TestData.Suffix([c["d0"], c["d1"], c["d2"]], c["rank"], 0);
            var (x, vx) = Inputs.Make(shape, c.View(0), c.Generator());
            return GradCheck.Check(t => vx(t[0]).Sort(c["dim"], c["descending"] == 1).Values, [x]);
        });

    [Test]
    public void Sort_SecondOrderMatchesFiniteDifferences() => SecondOrderTests.SecondOrder(Sort_GradientMatchesFiniteDifferences);

    [Test]
    public void Sort_MatchesPyTorch_StableWithNaNLargest()
    {
        // torch.sort(torch.tensor([3., 1., nan, 1., 2.]), stable=True) → [1, 1, 2, 3, nan], [1, 3, 4, 0, 2]
        var x = Tensor.FromArray(new[] { 3.0, 1, double.NaN, 1, 2 });
        var (v, i) = x.Sort();
        Assert.That(v.ToArray(), Is.EqualTo(new[] { 1.0, 1, 2, 3, double.NaN }));
        Assert.That(i.ToArray(), Is.EqualTo(new long[] { 1, 3, 4, 0, 2 }));

        // descending=True, stable=True → [nan, 3, 2, 1, 1], [2, 0, 4, 1, 3]: ties keep their order.
        (v, i) = x.Sort(descending: true);
        Assert.That(v.ToArray(), Is.EqualTo(new[] { double.NaN, 3, 2, 1, 1 }));
        Assert.That(i.ToArray(), Is.EqualTo(new long[] { 2, 0, 4, 1, 3 }));

        // Along dim 0 of [[2, 1], [1, 3]]: values [[1, 1], [2, 3]], indices [[1, 0], [0, 1]].
        var m = Tensor.FromArray(new[] { 2.0, 1, 1, 3 }, [2, 2]);
        (v, i) = m.Sort(0);
        Assert.That(v.ToArray(), Is.EqualTo(new[] { 1.0, 1, 2, 3 }));
        Assert.That(i.ToArray(), Is.EqualTo(new long[] { 1, 0, 0, 1 }));
    }

    [Test]
    public void Sort_RejectsABadDim()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<float>(2, 3).Sort(2))!;
        Assert.That(ex.Message, Does.Contain("Sort").And.Contain("[2, 3]"));
    }
}
