using Autograd;

namespace Autograd.Tests.Core;

/// <summary>
/// A custom op may leave the gradient of an input that requires grad null ("no contribution", PyTorch's None):
/// the engine must treat it as zero for that input, never as whatever an earlier node's VJP left in the
/// engine's reused gradient slots, and never dereference it.
/// </summary>
[Category("GradProperty")]
public class NullGradientTests
{
    /// <summary>x·y forward; backward gives y its gradient (x·g) and leaves x's null although x requires grad.</summary>
    private sealed class OnlySecond : Function<double>
    {
        protected override Tensor<double> Forward(FunctionContext<double> ctx, Tensor<double>[] inputs)
        {
            ctx.SaveForBackward(inputs[0]);
            return inputs[0] * inputs[1];
        }

        protected override void Backward(FunctionContext<double> ctx, Tensor<double> g, Span<Tensor<double>?> grads)
            => grads[1] = g * ctx.SavedTensors[0];
    }

    [Test]
    public void ANullGradientForAWantedInput_IsNoContribution_NotAnEarlierNodesGradient()
    {
        var x = Tensor.FromArray([1.0, 2.0, 3.0], requiresGrad: true);
        var y = Tensor.FromArray([4.0, 5.0, 6.0], requiresGrad: true);
        var w = Tensor.FromArray([7.0, 8.0, 9.0], requiresGrad: true);

        // Mul's VJP runs first and fills both of the engine's gradient slots with [3]-shaped tensors; the
        // custom op's VJP runs next with two inputs of the same shape and leaves slot 0 empty.
        var z = new OnlySecond().Apply(x, y);
        (z * w).Sum().Backward();

        Assert.Multiple(() =>
        {
            Assert.That(x.Grad, Is.Null, "x got a gradient although the only op it feeds returned none for it");
            Assert.That(y.Grad!.ToArray(), Is.EqualTo(new[] { 7.0, 16.0, 27.0 }), "dy = w·x");
            Assert.That(w.Grad!.ToArray(), Is.EqualTo(new[] { 4.0, 10.0, 18.0 }), "dw = x·y");
        });
    }

    [Test]
    public void ANullGradientOnOnePath_LeavesTheOtherPathsGradient()
    {
        var x = Tensor.FromArray([1.0, 2.0, 3.0], requiresGrad: true);
        var y = Tensor.FromArray([4.0, 5.0, 6.0], requiresGrad: true);

        // x also reaches the loss directly: its gradient is that path's alone (ones), not doubled by a stale slot.
        var z = new OnlySecond().Apply(x, y);
        (z.Exp() + x).Sum().Backward();

        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 1.0, 1.0, 1.0 }));
    }
}
