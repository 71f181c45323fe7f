using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;
using static Autograd.Tests.Ops.ReductionTests;

namespace Autograd.Tests.Ops;

/// <summary>Min, Prod, Var/Std, LogSumExp, Softmax and Argmax/Argmin: gradients, values, PyTorch's conventions, errors.</summary>
[Category("GradProperty")]
public class MoreReductionTests
{
    [Test]
    public void Min_GradientMatchesFiniteDifferences() => Check((x, dims, keep) => x.Min(dims, keep), distinct: true);

    [Test]
    public void Prod_GradientMatchesFiniteDifferences() => Check((x, dims, keep) => x.Prod(dims, keep));

    [Test]
    public void ProdWithZeros_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec().Int("rank", 1, 3).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4).Int("mask", 0, 7).Int("keepDim", 0, 1).Int("zeros", 1, 3).Views(1),
            c =>
            {
                var g = c.Generator();
                var (x, vx) = Inputs.Make(TestData.Suffix([c["d0"], c["d1"], c["d2"]], c["rank"], 0), c.View(0), g);
                var data = x.Storage.Span;
                for (var k = 0; k < c["zeros"]; k++)
                {
                    data[g.NextInt(data.Length)] = 0;
                }

                return GradCheck.Check(t => vx(t[0]).Prod(Dims(c), c["keepDim"] == 1), [x]);
            });

    /// <summary>
    /// Shapes and dims whose reductions hold at least two elements; for Std also no expanded inputs
    /// (equal elements: the derivative of √0 is infinite, NaN in PyTorch too).
    /// </summary>
    private static void CheckSpread(Func<Tensor<double>, int[], double, bool, Tensor<double>> op, params ViewKind[] views) =>
        GradProperty.Check(
            new CaseSpec().Int("rank", 1, 3).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4).Int("mask", 0, 7).Int("keepDim", 0, 1).Int("correction", 0, 1).Views(1, views)
                .Where(c =>
                {
                    var shape = TestData.Suffix([c["d0"], c["d1"], c["d2"]], c["rank"], 0);
                    var dims = Dims(c);
                    var n = dims.Length == 0 ? shape.Aggregate(1, (a, b) => a * b) : dims.Aggregate(1, (a, d) => a * shape[d]);
                    return n >= 2;
                }),
            c =>
            {
                var (x, vx) = Inputs.Make(TestData.Suffix([c["d0"], c["d1"], c["d2"]], c["rank"], 0), c.View(0), c.Generator());
                return GradCheck.Check(t => op(vx(t[0]), Dims(c), c["correction"], c["keepDim"] == 1), [x]);
            });

    [Test]
    public void Var_GradientMatchesFiniteDifferences() => CheckSpread((x, dims, correction, keep) => x.Var(dims, correction, keep));

    [Test]
    public void Std_GradientMatchesFiniteDifferences() => CheckSpread((x, dims, correction, keep) => x.Std(dims, correction, keep), ViewKind.Contiguous, ViewKind.Transposed, ViewKind.Sliced);

    [Test]
    public void LogSumExp_GradientMatchesFiniteDifferences() => Check((x, dims, keep) => x.LogSumExp(dims, keep));

    [Test]
    public void Softmax_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec().Int("rank", 0, 3).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4).Int("dim", 0, 2).Views(1)
                .Where(c => c["dim"] < Math.Max(c["rank"], 1)),
            c =>
            {
                var (x, vx) = Inputs.Make(TestData.Suffix([c["d0"], c["d1"], c["d2"]], c["rank"], 0), c.View(0), c.Generator(), -3, 3);
                return GradCheck.Check(t => vx(t[0]).Softmax(c["dim"]), [x]);
            });

    [Test]
    public void Forward_Values()
    {
        var x = Tensor.FromArray(new[] { 1.0, 5.0, 3.0, 4.0, 2.0, 6.0 }, [2, 3]);
        Assert.That(x.Min().Item(), Is.EqualTo(1.0));
        Assert.That(x.Min(1).ToArray(), Is.EqualTo(new[] { 1.0, 2.0 }));
        Assert.That(x.Min(0, keepDim: true).Shape, Is.EqualTo(new[] { 1, 3 }));
        Assert.That(x.Prod().Item(), Is.EqualTo(720.0));
        Assert.That(x.Prod(0).ToArray(), Is.EqualTo(new[] { 4.0, 10.0, 18.0 }));
        Assert.That(Tensor.Zeros<double>(2, 0).Prod(1).ToArray(), Is.EqualTo(new[] { 1.0, 1.0 }));
        Assert.That(x.Var().Item(), Is.EqualTo(3.5).Within(1e-12));
        Assert.That(x.Var(correction: 0).Item(), Is.EqualTo(17.5 / 6).Within(1e-12));
        Assert.That(x.Var(1).ToArray(), Is.EqualTo(new[] { 4.0, 4.0 }).Within(1e-12));
        Assert.That(x.Std(1, keepDim: true).Shape, Is.EqualTo(new[] { 2, 1 }));
        Assert.That(x.Std(1).ToArray(), Is.EqualTo(new[] { 2.0, 2.0 }).Within(1e-12));
        Assert.That(double.IsNaN(Tensor.FromArray(new[] { 1.0 }).Var().Item()) || double.IsInfinity(Tensor.FromArray(new[] { 1.0 }).Var().Item()));
        Assert.That(x.LogSumExp(1).ToArray(), Is.EqualTo(new[] { Math.Log(Math.Exp(1) + Math.Exp(5) + Math.Exp(3)), Math.Log(Math.Exp(4) + Math.Exp(2) + Math.Exp(6)) }).Within(1e-12));
        Assert.That(Tensor.FromArray(new[] { 1000.0, 1000.0 }).LogSumExp(0).Item(), Is.EqualTo(1000 + Math.Log(2)).Within(1e-9));
        Assert.That(Tensor.FromArray(new[] { double.NegativeInfinity, double.NegativeInfinity }).LogSumExp(0).Item(), Is.EqualTo(double.NegativeInfinity));
        Assert.That(x.Softmax(1).Sum(1).ToArray(), Is.EqualTo(new[] { 1.0, 1.0 }).Within(1e-12));
        Assert.That(Tensor.FromArray(new[] { 1000.0, 0.0 }).Softmax(0).ToArray(), Is.EqualTo(new[] { 1.0, 0.0 }).Within(1e-12));
    }

    [Test]
    public void Argmax_AndArgmin_GiveIndexTensors()
    {
        var x = Tensor.FromArray(new[] { 1.0, 7.0, 7.0, 0.0, 9.0, -1.0 }, [2, 3]);
        Assert.That(x.Argmax().ToArray(), Is.EqualTo(new long[] { 4 }));
        Assert.That(x.Argmax().Rank, Is.EqualTo(0));
        Assert.That(x.Argmax(1).ToArray(), Is.EqualTo(new long[] { 1, 1 }), "ties give the first");
        Assert.That(x.Argmax(0).ToArray(), Is.EqualTo(new long[] { 0, 1, 0 }));
        Assert.That(x.Argmax(1, keepDim: true).Shape, Is.EqualTo(new[] { 2, 1 }));
        Assert.That(x.Argmin(-1).ToArray(), Is.EqualTo(new long[] { 0, 2 }));
        Assert.That(x.Argmin().Item(), Is.EqualTo(5));
        Assert.That(x.Transpose(0, 1).Argmax(0).ToArray(), Is.EqualTo(new long[] { 1, 1 }));
        Assert.That(Tensor.FromArray(new[] { 1.0, double.NaN, 3.0 }).Argmax().Item(), Is.EqualTo(1), "NaN is the maximum, as PyTorch");
    }

    [Test]
    public void Prod_WithZeros_HasTheProductOfTheOthersAsGradient()
    {
        var x = Tensor.FromArray(new[] { 2.0, 0.0, 3.0, 0.0, 0.0, 5.0 }, [2, 3], requiresGrad: true);
        x.Prod(1).Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 0.0, 6.0, 0.0, 0.0, 0.0, 0.0 }));
    }

    [Test]
    public void BadArguments_NameOpAndShape()
    {
        var x = Tensor.Zeros<float>(2, 3);
        var ex = Assert.Throws<ArgumentException>(() => x.Min(2));
        Assert.That(ex!.Message, Does.Contain("Min").And.Contain("2"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<float>(2, 0).Min(1));
        Assert.That(ex!.Message, Does.Contain("Min").And.Contain("minimum").And.Contain("[2, 0]"));
        ex = Assert.Throws<ArgumentException>(() => x.Argmax(3));
        Assert.That(ex!.Message, Does.Contain("Argmax").And.Contain("3"));
        ex = Assert.Throws<ArgumentException>(() => x.Prod([1, 1]));
        Assert.That(ex!.Message, Does.Contain("Prod").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => x.Var(-3));
        Assert.That(ex!.Message, Does.Contain("Var"));
        ex = Assert.Throws<ArgumentException>(() => x.LogSumExp(2));
        Assert.That(ex!.Message, Does.Contain("LogSumExp"));
        ex = Assert.Throws<ArgumentException>(() => x.Softmax(2));
        Assert.That(ex!.Message, Does.Contain("Softmax"));
    }
}
