using Autograd;

namespace Autograd.Tests.Core;

/// <summary>
/// Which inputs get a gradient is decided when an op is recorded (the graph's edges are fixed then, as
/// PyTorch's): flipping RequiresGrad between the forward and the backward changes nothing.
/// </summary>
public class RecordTimeTests
{
    private sealed class Scale : Function<double>
    {
        protected override Tensor<double> Forward(FunctionContext<double> ctx, Tensor<double>[] inputs)
        {
            ctx.SaveForBackward(inputs[0], inputs[1]);
            return inputs[0] * inputs[1];
        }

        protected override void Backward(FunctionContext<double> ctx, Tensor<double> gradOutput, Span<Tensor<double>?> inputGrads)
        {
            var (a, b) = (ctx.SavedTensors[0], ctx.SavedTensors[1]);
            if (ctx.NeedsInputGrad(0))
            {
                inputGrads[0] = gradOutput * b;
            }

            if (ctx.NeedsInputGrad(1))
            {
                inputGrads[1] = gradOutput * a;
            }
        }
    }

    private static (Tensor<double> X, Tensor<double> W, Tensor<double> C, Tensor<double> Loss) Forward()
    {
        var x = Tensor.FromArray(new[] { 0.5, -1.0, 2.0, 1.5, 0.25, -0.75 }, [2, 3], requiresGrad: true);
        var w = Tensor.FromArray(new[] { 1.0, 2.0, -1.0, 0.5, 3.0, -2.0 }, [3, 2], requiresGrad: true);
        var c = Tensor.FromArray(new[] { 0.3, -0.2, 0.1, 0.7, -0.4, 0.6 }, [2, 3]);

        // Every op family whose VJP decides per input: elementwise, MatMul, Cat, Where, a loss, a custom Function.
        var h = x.MatMul(w);                                                       // [2, 2]
        var e = (x * c) + new Scale().Apply(x, c);                                 // [2, 3]
        var cat = Tensor.Cat([h, c.Narrow(1, 0, 2), w.Narrow(0, 0, 2)], dim: 0);   // [6, 2]
        var mask = Tensor.FromArray(new[] { 1.0, 0.0, 0.0, 1.0, 1.0, 0.0 }, [2, 3]).Gt(0.5);
        var picked = x.Where(mask, c);
        var loss = (cat * cat).Sum() + (w * w.Exp()).Sum() + e.Sum() + picked.MseLoss(c) + x.Sub(c).Pow(2.0).Sum();
        return (x, w, c, loss);
    }

    [Test]
    public void TogglingRequiresGrad_AfterTheForward_ChangesNoGradient()
    {
        var (x0, w0, c0, clean) = Forward();
        clean.Backward();
        Assert.That(c0.Grad, Is.Null);

        var (x, w, c, loss) = Forward();
        w.RequiresGrad = false;  // it required grad when recorded: it still gets its gradient
        c.RequiresGrad = true;   // it did not: no edge leads to it, so it gets none
        loss.Backward();

        Assert.That(w.Grad, Is.Not.Null, "w required grad when the ops were recorded");
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(w0.Grad!.ToArray()));
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(x0.Grad!.ToArray()));
        Assert.That(c.Grad, Is.Null, "c did not require grad when the ops were recorded");
    }

    [Test]
    public void ManyInputs_KeepTheirRecordTimeFlags()
    {
        // Beyond 64 inputs a node keeps a bool per input instead of a bit.
        var parts = Enumerable.Range(0, 70).Select(i => Tensor.FromArray(new[] { (double)i }, [1], requiresGrad: i % 3 == 0)).ToArray();
        var loss = (Tensor.Cat(parts) * Tensor.Arange(70.0)).Sum();
        foreach (var p in parts)
        {
            p.RequiresGrad = !p.RequiresGrad;
        }

        loss.Backward();
        for (var i = 0; i < parts.Length; i++)
        {
            Assert.That(parts[i].Grad?.Item(), Is.EqualTo(i % 3 == 0 ? i : null), $"input {i}");
        }
    }

    [Test]
    public void TogglingRequiresGrad_DoesNotChangeTensorGrad_Either()
    {
        var (x0, w0, _, clean) = Forward();
        var expected = Tensor.Grad(clean, [x0, w0]);

        var (x, w, c, loss) = Forward();
        c.RequiresGrad = true;
        Assert.That(Tensor.Grad(loss, c, retainGraph: true, allowUnused: true), Is.Null);
        var got = Tensor.Grad(loss, [x, w]);
        Assert.That(got[0]!.ToArray(), Is.EqualTo(expected[0]!.ToArray()));
        Assert.That(got[1]!.ToArray(), Is.EqualTo(expected[1]!.ToArray()));
    }
}
