using Autograd;
using Autograd.Testing;

namespace Autograd.Tests.Ops;

/// <summary>
/// The C# operators with a scalar (<c>x * 2f</c>, <c>1.0 - x</c>) keep the scalar as a value instead of a
/// rank-0 tensor (ElementwiseOp.WithScalar): the results must be those of the op with a rank-0 tensor,
/// element for element, the gradients must match finite differences, and the node must look the same
/// (op name, two inputs, the scalar as a rank-0 tensor when read).
/// </summary>
public class ScalarOperandTests
{
    /// <summary>Each form with its twin that takes the scalar as a rank-0 tensor.</summary>
    public static IEnumerable<TestCaseData> Forms()
    {
        yield return Form("x + s", (x, s) => x + s, (x, s) => x.Add(Tensor.Scalar(s)));
        yield return Form("s + x", (x, s) => s + x, (x, s) => Tensor.Scalar(s).Add(x));
        yield return Form("x - s", (x, s) => x - s, (x, s) => x.Sub(Tensor.Scalar(s)));
        yield return Form("s - x", (x, s) => s - x, (x, s) => Tensor.Scalar(s).Sub(x));
        yield return Form("x * s", (x, s) => x * s, (x, s) => x.Mul(Tensor.Scalar(s)));
        yield return Form("s * x", (x, s) => s * x, (x, s) => Tensor.Scalar(s).Mul(x));
        yield return Form("x / s", (x, s) => x / s, (x, s) => x.Div(Tensor.Scalar(s)));
        yield return Form("s / x", (x, s) => s / x, (x, s) => Tensor.Scalar(s).Div(x));
    }

    private static TestCaseData Form(string name, Func<Tensor<double>, double, Tensor<double>> op, Func<Tensor<double>, double, Tensor<double>> twin) =>
        new TestCaseData(op, twin).SetArgDisplayNames(name);

    private static Tensor<double> Sample(int rows, int cols, bool requiresGrad)
    {
        var data = new double[rows * cols];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = 0.5 + (i * 0.37 % 2.0);   // positive, away from 0 (s / x)
        }

        return Tensor.FromArray(data, [rows, cols], requiresGrad);
    }

    [TestCaseSource(nameof(Forms))]
    public void Result_IsTheOpWithARankZeroTensor_ElementForElement(Func<Tensor<double>, double, Tensor<double>> op, Func<Tensor<double>, double, Tensor<double>> twin)
    {
        // Contiguous, transposed (the general path), one element, rank 0, empty, and past the threshold
        // from which elementwise passes split over threads.
        Tensor<double>[] inputs =
        [
            Sample(3, 4, false), Sample(4, 3, false).Transpose(0, 1), Sample(1, 1, false), Tensor.Scalar(1.5),
            Tensor.Zeros<double>(0, 3), Sample(1024, 520, false),
        ];
        foreach (var x in inputs)
        {
            var y = op(x, 1.75);
            Assert.That(y.Shape, Is.EqualTo(x.Shape));
            Assert.That(y.ToArray(), Is.EqualTo(twin(x, 1.75).ToArray()), $"shape [{string.Join(", ", x.Shape)}]");
        }
    }

    [TestCaseSource(nameof(Forms))]
    public void Gradient_MatchesFiniteDifferences_OnAStridedInput(Func<Tensor<double>, double, Tensor<double>> op, Func<Tensor<double>, double, Tensor<double>> twin)
    {
        var x = Sample(4, 3, requiresGrad: true);
        var result = GradCheck.Check(xs => op(xs[0].Transpose(0, 1), -1.25).Square(), [x]);
        Assert.That(result.Passed, Is.True, result.Message);
    }

    [TestCaseSource(nameof(Forms))]
    public void Node_ListsTheScalarAsARankZeroInput(Func<Tensor<double>, double, Tensor<double>> op, Func<Tensor<double>, double, Tensor<double>> twin)
    {
        var x = Sample(2, 2, requiresGrad: true);
        var y = op(x, 3.0);
        var node = (Node<double>)y.GradFn!;
        Assert.That(node.OpName, Is.EqualTo(twin(x, 3.0).GradFn!.OpName));
        Assert.That(node.CallSite.IsKnown, Is.False);

        var inputs = node.Inputs;
        Assert.That(inputs, Has.Count.EqualTo(2));
        var scalarFirst = ReferenceEquals(inputs[1], x);
        Assert.That(inputs[scalarFirst ? 1 : 0], Is.SameAs(x));
        var scalar = inputs[scalarFirst ? 0 : 1];
        Assert.That(scalar.Shape, Is.Empty);
        Assert.That(scalar.Item(), Is.EqualTo(3.0));
        Assert.That(scalar.RequiresGrad, Is.False);
        Assert.That(node.Inputs[scalarFirst ? 0 : 1], Is.SameAs(scalar), "the scalar's tensor is made once");

        // Made or not, the scalar is not an edge: backward reaches x only.
        y.Sum().Backward();
        Assert.That(x.Grad, Is.Not.Null);
        Assert.That(scalar.Grad, Is.Null);
    }

    [Test]
    public void ScalarOverX_HasItsSecondDerivative()
    {
        // y = 2 / x: dy/dx = −2 / x², d²y/dx² = 4 / x³.
        var x = Tensor.FromArray(new[] { 0.5, 2.0 }, [2], requiresGrad: true);
        var dy = Tensor.Grad((2.0 / x).Sum(), x, createGraph: true)!;
        Assert.That(dy.ToArray(), Is.EqualTo(new[] { -8.0, -0.5 }).Within(1e-12));
        var d2y = Tensor.Grad(dy.Sum(), x)!;
        Assert.That(d2y.ToArray(), Is.EqualTo(new[] { 32.0, 0.5 }).Within(1e-12));
    }

    [Test]
    public void FloatTensors_TakeFloatAndDoubleScalars_Alike()
    {
        var x = Tensor.FromArray(new[] { 1f, -2f, 3.5f }, [3], requiresGrad: true);
        Assert.That((x * 0.1).ToArray(), Is.EqualTo((x * 0.1f).ToArray()));
        Assert.That((1.0 - x).ToArray(), Is.EqualTo((1f - x).ToArray()));
        (0.5 * x + x / 4.0).Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.All.EqualTo(0.75f));
    }

    [Test]
    public void NullTensor_IsNamedLikeTheOpsArgument()
    {
        Tensor<float> none = null!;
        var ex = Assert.Throws<ArgumentNullException>(() => _ = none * 2f)!;
        Assert.That(ex.ParamName, Is.EqualTo("a"));
        Assert.That(ex.Message, Does.StartWith("Mul:"));
        ex = Assert.Throws<ArgumentNullException>(() => _ = 2.0 / none)!;
        Assert.That(ex.ParamName, Is.EqualTo("b"));
        Assert.That(ex.Message, Does.StartWith("Div:"));
    }

    [Test]
    public void AnomalyMode_NamesTheOpThatMadeAnInfinity_FromFiniteInputs()
    {
        var x = Tensor.FromArray(new[] { 1.0, 0.0 }, [2], requiresGrad: true);
        using var anomaly = Tensor.DetectAnomaly();
        var ex = Assert.Throws<AnomalyException>(() => _ = 1.0 / x)!;
        Assert.That(ex.Message, Does.Contain("'Div'").And.Contain("from finite inputs"));
    }
}
