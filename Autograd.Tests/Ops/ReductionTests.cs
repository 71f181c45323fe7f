using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Ops;

[Category("GradProperty")]
public class ReductionTests
{
    /// <summary>Rank 0..3 shapes, a bit mask of the dims to reduce (0 = all), keepDim.</summary>
    private static CaseSpec Spec() => new CaseSpec()
        .Int("rank", 0, 3).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4)
        .Int("mask", 0, 7).Int("keepDim", 0, 1)
        .Views(1);

    internal static int[] Dims(Case c) =>
        Enumerable.Range(0, c["rank"]).Where(d => (c["mask"] & (1 << d)) != 0).ToArray();

    internal static void Check(Func<Tensor<double>, int[], bool, Tensor<double>> op, bool distinct = false) =>
        GradProperty.Check(Spec(), c =>
        {
            var shape = TestData.Suffix([c["d0"], c["d1"], c["d2"]], c["rank"], 0);
            var g = c.Generator();
            var (x, vx) = Inputs.Make(shape, c.View(0), g);
            if (distinct)
            {
                TestData.Distinct(x, g);
            }

            return GradCheck.Check(t => op(vx(t[0]), Dims(c), c["keepDim"] == 1), [x]);
        });

    [Test]
    public void Sum_GradientMatchesFiniteDifferences() => Check((x, dims, keep) => x.Sum(dims, keep));

    [Test]
    public void Mean_GradientMatchesFiniteDifferences() => Check((x, dims, keep) => x.Mean(dims, keep));

    [Test]
    public void Max_GradientMatchesFiniteDifferences() => Check((x, dims, keep) => x.Max(dims, keep), distinct: true);

    [Test]
    public void Forward_Values()
    {
        var x = Tensor.FromArray(new[] { 1.0, 5.0, 3.0, 4.0, 2.0, 6.0 }, [2, 3]);
        Assert.That(x.Sum().Item(), Is.EqualTo(21.0));
        Assert.That(x.Sum().Rank, Is.EqualTo(0));
        Assert.That(x.Sum(0).ToArray(), Is.EqualTo(new[] { 5.0, 7.0, 9.0 }));
        Assert.That(x.Sum(1, keepDim: true).Shape, Is.EqualTo(new[] { 2, 1 }));
        Assert.That(x.Sum(-1).ToArray(), Is.EqualTo(new[] { 9.0, 12.0 }));
        Assert.That(x.Mean(0).ToArray(), Is.EqualTo(new[] { 2.5, 3.5, 4.5 }));
        Assert.That(x.Mean().Item(), Is.EqualTo(3.5));
        Assert.That(x.Max().Item(), Is.EqualTo(6.0));
        Assert.That(x.Max(1).ToArray(), Is.EqualTo(new[] { 5.0, 6.0 }));
        Assert.That(x.Max(0, keepDim: true).ToArray(), Is.EqualTo(new[] { 4.0, 5.0, 6.0 }));
        Assert.That(x.Transpose(0, 1).Max(1).ToArray(), Is.EqualTo(new[] { 4.0, 5.0, 6.0 }));
        Assert.That(x.Sum([0, 1], keepDim: true).Shape, Is.EqualTo(new[] { 1, 1 }));
        Assert.That(double.IsNaN(Tensor.Zeros<double>(0).Mean().Item()));
    }

    [Test]
    public void Max_TiesGoToTheFirstMaximum()
    {
        var x = Tensor.FromArray(new[] { 1.0, 7.0, 7.0, 7.0, 2.0, 7.0 }, [2, 3], requiresGrad: true);
        x.Max(1).Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 0.0, 1.0, 0.0, 1.0, 0.0, 0.0 }));
        x.Grad = null;
        x.Max().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 0.0, 1.0, 0.0, 0.0, 0.0, 0.0 }));
    }

    [Test]
    public void BadDims_NameOpAndShape()
    {
        var x = Tensor.Zeros<float>(2, 3);
        var ex = Assert.Throws<ArgumentException>(() => x.Sum(2));
        Assert.That(ex!.Message, Does.Contain("Sum").And.Contain("2"));
        ex = Assert.Throws<ArgumentException>(() => x.Mean([0, 0]));
        Assert.That(ex!.Message, Does.Contain("Mean").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<float>(2, 0).Max(1));
        Assert.That(ex!.Message, Does.Contain("Max").And.Contain("[2, 0]"));
    }
}
