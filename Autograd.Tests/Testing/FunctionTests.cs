using Autograd;
using Autograd.Testing;
using static Autograd.Tests.Testing.TestFunctions;

namespace Autograd.Tests.Testing;

public class FunctionTests
{
    private static Tensor<double> Leaf(double[] values, int[] shape) => Tensor.FromArray(values, shape, requiresGrad: true);

    [Test]
    public void Apply_RecordsOneNodeUnderItsName_AndBackwardUsesItsVjp()
    {
        var x = Leaf([1, 2, 3, 4], [2, 2]);
        var w = Leaf([1, 0, 2, 1], [2, 2]);
        var recorded = Tape.Current.NodesRecorded;

        var y = new MyMatMul().Apply(x, w);

        // The ops inside the forward run with grad off: only the custom op itself is on the tape.
        Assert.That(Tape.Current.NodesRecorded - recorded, Is.EqualTo(1));
        Assert.That(y.GradFn!.OpName, Is.EqualTo("MyMatMul"));
        Assert.That(y.ToArray(), Is.EqualTo(new double[] { 5, 2, 11, 4 }));

        y.Backward(Tensor.OnesLike(y));

        // dX = 1·Wᵀ: row sums of W; dW = Xᵀ·1: column sums of X, repeated.
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new double[] { 1, 3, 1, 3 }));
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(new double[] { 4, 4, 6, 6 }));
    }

    [Test]
    public void Apply_WithoutGrad_RecordsNothing()
    {
        var x = Tensor.FromArray(new double[] { 1, -2 }, [2]);
        Assert.That(MyRelu(x).GradFn, Is.Null);

        using (Tensor.NoGrad())
        {
            Assert.That(MyRelu(Leaf([1, -2], [2])).GradFn, Is.Null);
        }
    }

    [Test]
    public void Apply_ReturningAnInput_GivesTheOpItsOwnOutputTensor()
    {
        var x = Leaf([1, 2], [2]);
        var y = Function.Apply("Identity", [x], xs => (xs[0], (g, grads) => grads[0] = g));

        Assert.That(y, Is.Not.SameAs(x));
        Assert.That(x.IsLeaf, Is.True);
        Assert.That(y.GradFn!.OpName, Is.EqualTo("Identity"));
        y.Backward(Tensor.FromArray(new double[] { 3, 4 }, [2]));
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new double[] { 3, 4 }));
    }

    [Test]
    public void SavedTensor_ModifiedInPlaceAfterForward_MakesBackwardThrow()
    {
        var x = Leaf([1, 2, 3, 4], [2, 2]);
        var w = Leaf([1, 0, 2, 1], [2, 2]);
        var y = new MyMatMul().Apply(x, w);
        w.Storage._version++; // what any in-place write does

        var e = Assert.Throws<InvalidOperationException>(() => y.Backward(Tensor.OnesLike(y)));
        Assert.That(e!.Message, Does.Contain("MyMatMul").And.Contain("modified in place"));
    }

    [Test]
    public void CustomOps_PassGradCheck()
    {
        var g = new Generator(3);
        var x = Tensor.Randn<double>([3, 2], g, requiresGrad: true);
        var w = Tensor.Randn<double>([2, 4], g, requiresGrad: true);
        GradCheck.Check(xs => new MyMatMul().Apply(xs[0], xs[1]), [x, w]).ThrowIfFailed();
        GradCheck.Check(xs => MyRelu(xs[0]), [x]).ThrowIfFailed();
        GradCheck.Check(xs => Scale(xs[0]), [x]).ThrowIfFailed();
    }

    [Test]
    public void CustomOp_ComposesWithBuiltInOpsAndViews()
    {
        var g = new Generator(4);
        var x = Tensor.Randn<double>([2, 3], g, requiresGrad: true);
        var w = Tensor.Randn<double>([2, 3], g, requiresGrad: true);

        // A transposed operand, a built-in op after the custom one: the tape links them like any two ops.
        GradCheck.Check(xs => new MyMatMul().Apply(xs[0], xs[1].Transpose(0, 1)).Exp().Sum(), [x, w]).ThrowIfFailed();
    }

    [Test]
    public void ForgottenTranspose_IsCaughtByGradCheck()
    {
        var g = new Generator(5);
        var x = Tensor.Randn<double>([1, 2], g, requiresGrad: true);
        var w = Tensor.Randn<double>([2, 2], g, requiresGrad: true);

        var result = GradCheck.Check(xs => new MyMatMul(forgetTranspose: true).Apply(xs[0], xs[1]), [x, w]);

        Assert.That(result.Passed, Is.False);
        Assert.That(result.Worst!.Input, Is.EqualTo(0), "the wrong gradient is dX");
    }
}
