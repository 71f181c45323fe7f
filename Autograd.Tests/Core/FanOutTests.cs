using Autograd;
using Autograd.Testing;

namespace Autograd.Tests.Core;

/// <summary>
/// Fan-out through the engine: one intermediate feeds several consumers, and the gradients they send back
/// arrive as views (a transposed view from Transpose, an expanded one from Sum's broadcast, a reshaped one,
/// and one tensor shared by both inputs of an Add) that the engine must sum without writing into any of
/// them. GradCheck's caller-tensor check sees a write into a shared gradient that reaches the cotangent.
/// </summary>
[Category("GradProperty")]
public class FanOutTests
{
    private static Tensor<double> Consumers(Case c, Tensor<double> x)
    {
        // The intermediate: an op whose VJP reads the gradient it receives.
        var h = c["op"] switch
        {
            0 => x.Tanh(),
            1 => x.Mul(x),
            _ => x.Exp().Transpose(0, 1).Transpose(0, 1),
        };

        var terms = new List<Tensor<double>>();
        var mask = c["consumers"];
        if ((mask & 1) != 0)
        {
            terms.Add(h.Transpose(0, 1).Tanh().Transpose(0, 1));    // gradient back as a transposed view
        }

        if ((mask & 2) != 0)
        {
            terms.Add(h.Sum(1, keepDim: true).Mul(h));              // an expanded gradient, and h twice in one op
        }

        if ((mask & 4) != 0)
        {
            terms.Add(h.Reshape(-1).Sigmoid().Reshape(h.Shape));    // a reshaped view
        }

        if ((mask & 8) != 0)
        {
            terms.Add(h.Add(h));                                    // one gradient tensor shared by two inputs
        }

        if ((mask & 16) != 0)
        {
            terms.Add(h.Narrow(1, 0, 1).Expand(h.Shape).Mul(x));    // a sub-view's scattered gradient, and x again
        }

        return terms.Aggregate((a, b) => a.Add(b));
    }

    [Test]
    public void FanOut_GradientsArrivingAsViews_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec().Int("d0", 1, 3).Int("d1", 1, 3).Int("op", 0, 2).Int("consumers", 1, 31).Views(1),
            c => [[c["d0"], c["d1"]]],
            (c, xs) => Consumers(c, xs[0]));

    [Test]
    public void FanOut_IntoOneLeaf_AccumulatesWithoutTouchingTheCotangent()
    {
        // x + x: Add's VJP hands the same tensor (the cotangent itself) to both inputs, and both go to x.
        var x = Tensor.FromArray(new[] { 1.0, -2.0, 3.0 }, [3], requiresGrad: true);
        var g = Tensor.FromArray(new[] { 0.5, 0.25, 2.0 }, [3]);
        x.Add(x).Backward(g);
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 1.0, 0.5, 4.0 }));
        Assert.That(g.ToArray(), Is.EqualTo(new[] { 0.5, 0.25, 2.0 }), "the caller's gradOutput");
        Assert.That(x.Grad.Storage, Is.Not.SameAs(g.Storage));
    }
}
