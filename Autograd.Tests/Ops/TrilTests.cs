using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Ops;

/// <summary>Tril and Triu over generated batches of matrices, diagonals and views; OneHot's values and errors.</summary>
[Category("GradProperty")]
public class TrilTests
{
    /// <summary>Rank 2-4 (sizes d0..d3, the matrices the last two), diagonal diag − 4 in [−4, 4].</summary>
    private static CaseSpec Spec() => new CaseSpec()
        .Int("rank", 2, 4).Int("d0", 1, 2).Int("d1", 1, 2).Int("rows", 1, 4).Int("cols", 1, 5).Int("diag", 0, 8).Views(1);

    private static int[] Shape(Case c) => TestData.Suffix([c["d0"], c["d1"], c["rows"], c["cols"]], c["rank"], 0);

    [Test]
    public void Tril_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(Spec(), c =>
        {
            var (x, vx) = Inputs.Make(Shape(c), c.View(0), c.Generator());
            return GradCheck.Check(t => vx(t[0]).Tril(c["diag"] - 4), [x]);
        });

    [Test]
    public void Triu_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(Spec(), c =>
        {
            var (x, vx) = Inputs.Make(Shape(c), c.View(0), c.Generator());
            return GradCheck.Check(t => vx(t[0]).Triu(c["diag"] - 4), [x]);
        });

    [Test]
    public void Tril_SecondOrderMatchesFiniteDifferences() => SecondOrderTests.SecondOrder(Tril_GradientMatchesFiniteDifferences);

    [Test]
    public void Triu_SecondOrderMatchesFiniteDifferences() => SecondOrderTests.SecondOrder(Triu_GradientMatchesFiniteDifferences);

    [Test]
    public void TrilAndTriu_MatchPyTorch()
    {
        var x = Tensor.Arange(1.0, 13.0, 1.0).Reshape(3, 4);
        // torch.tril(torch.arange(1., 13.).view(3, 4)), and with diagonal -1 and 1
        Assert.That(x.Tril().ToArray(), Is.EqualTo(new[] { 1.0, 0, 0, 0, 5, 6, 0, 0, 9, 10, 11, 0 }));
        Assert.That(x.Tril(-1).ToArray(), Is.EqualTo(new[] { 0.0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0 }));
        Assert.That(x.Tril(1).ToArray(), Is.EqualTo(new[] { 1.0, 2, 0, 0, 5, 6, 7, 0, 9, 10, 11, 12 }));
        Assert.That(x.Triu().ToArray(), Is.EqualTo(new[] { 1.0, 2, 3, 4, 0, 6, 7, 8, 0, 0, 11, 12 }));
        Assert.That(x.Triu(2).ToArray(), Is.EqualTo(new[] { 0.0, 0, 3, 4, 0, 0, 0, 8, 0, 0, 0, 0 }));
        Assert.That(x.Triu(-1).ToArray(), Is.EqualTo(new[] { 1.0, 2, 3, 4, 5, 6, 7, 8, 0, 10, 11, 12 }));
        Assert.That(x.Tril(-3).ToArray(), Is.All.EqualTo(0.0));
        Assert.That(x.Triu(-2).ToArray(), Is.EqualTo(x.ToArray()));
        Assert.That(x.Tril(1000).ToArray(), Is.EqualTo(x.ToArray()));
        Assert.That(x.Tril(int.MinValue).ToArray(), Is.All.EqualTo(0.0));

        // A transposed batch: the triangle is of the view, not of the storage.
        var batch = Tensor.Arange(8.0).Reshape(2, 2, 2).Transpose(1, 2);
        Assert.That(batch.Tril().ToArray(), Is.EqualTo(new[] { 0.0, 0, 1, 3, 4, 0, 5, 7 }));

        // The GPT's causal mask: torch.tril(torch.ones(4, 4)).
        Assert.That(Tensor.Ones<float>(4, 4).Tril().Sum().Item(), Is.EqualTo(10f));
    }

    [Test]
    public void Tril_BadRank_NamesTheOpAndShape()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<double>(3).Tril());
        Assert.That(ex!.Message, Does.Contain("Tril").And.Contain("[3]"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Scalar(1.0).Triu());
        Assert.That(ex!.Message, Does.Contain("Triu").And.Contain("[]"));
    }

    [Test]
    public void OneHot_MatchesPyTorch_AndIsAConstant()
    {
        // F.one_hot(torch.tensor([[0, 2], [1, 2]]), 4)
        var y = Tensor.OneHot<float>(IndexTensor.FromArray(new long[] { 0, 2, 1, 2 }, [2, 2]), 4);
        Assert.That(y.Shape, Is.EqualTo(new[] { 2, 2, 4 }));
        Assert.That(y.ToArray(), Is.EqualTo(new float[] { 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0 }));
        Assert.That(y.RequiresGrad, Is.False);
        Assert.That(Tensor.OneHot<double>(IndexTensor.FromArray(new long[] { 1, 3 })).Shape, Is.EqualTo(new[] { 2, 4 }), "numClasses inferred as max + 1");
        Assert.That(Tensor.OneHot<double>(IndexTensor.FromArray(new long[] { 2 }, [])).ToArray(), Is.EqualTo(new[] { 0.0, 0, 1 }));
        Assert.That(Tensor.OneHot<double>(IndexTensor.FromArray(Array.Empty<long>()), 3).Shape, Is.EqualTo(new[] { 0, 3 }));
    }

    [Test]
    public void OneHot_BadArguments_NameTheOpAndShape()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tensor.OneHot<double>(IndexTensor.FromArray(new long[] { 0, 3 }), 3));
        Assert.That(ex!.Message, Does.Contain("OneHot").And.Contain("index 3").And.Contain("indices [2]"));
        Assert.That(ex.ParamName, Is.EqualTo("indices"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.OneHot<double>(IndexTensor.FromArray(new long[] { -1 })));
        Assert.That(ex!.Message, Does.Contain("index -1"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.OneHot<double>(IndexTensor.FromArray(Array.Empty<long>())));
        Assert.That(ex!.Message, Does.Contain("OneHot").And.Contain("empty"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.OneHot<double>(IndexTensor.FromArray(new long[] { 0 }), -2));
        Assert.That(ex!.ParamName, Is.EqualTo("numClasses"));
    }
}
