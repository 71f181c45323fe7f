using Autograd;

namespace Autograd.Tests.HigherOrder;

/// <summary>
/// Passes that cross a cast: the tape is typed, so a cast's VJP continues the pass in the other element
/// type's graph (Engine.CrossType). Tensor.Grad, createGraph and hooks must behave as if it were one graph.
/// </summary>
public class CastPassTests
{
    [Test]
    public void Grad_ThroughARoundTrip_ReturnsTheGradient_AndTouchesNoGrad()
    {
        var x = Tensor.FromArray(new[] { 1f, -2f, 0.5f }, [3], requiresGrad: true);
        var w = Tensor.FromArray(new[] { 2.0, 3.0, -1.0 }, [3], requiresGrad: true);
        var y = (x.Cast<double>() * w).Cast<float>().Sum() + x.Sum();     // dy/dx = w + 1
        var gx = Tensor.Grad(y, x)!;
        Assert.That(gx.ToArray(), Is.EqualTo(new[] { 3f, 4f, 0f }));
        Assert.That(x.Grad, Is.Null);
        Assert.That(w.Grad, Is.Null, "a Tensor.Grad pass must not accumulate into leaves of the other type");
    }

    [Test]
    public void Grad_OfANonLeaf_ReachedDirectlyAndThroughACast_SumsBothParts()
    {
        var x = Tensor.FromArray(new[] { 1f, -2f }, [2], requiresGrad: true);
        var h = x * 2f;                                                    // [2, -4]
        var y = h.Sum() + h.Cast<double>().Square().Cast<float>().Sum();  // dy/dh = 1 + 2h
        var gh = Tensor.Grad(y, h)!;
        Assert.That(gh.ToArray(), Is.EqualTo(new[] { 5f, -7f }));
        Assert.That(x.Grad, Is.Null);
    }

    [Test]
    public void Grad_OfAnInputOnlyTheCastReaches_IsNotReportedUnused()
    {
        var x = Tensor.FromArray(new[] { 3f }, [1], requiresGrad: true);
        var y = x.Cast<double>().Square().Cast<float>().Sum();
        Assert.That(Tensor.Grad(y, x)!.At(0), Is.EqualTo(6f));

        var unused = Tensor.FromArray(new[] { 1f }, [1], requiresGrad: true);
        var z = x.Cast<double>().Square().Cast<float>().Sum();
        Assert.That(() => Tensor.Grad(z, [x, unused]), Throws.InvalidOperationException.With.Message.Contains("input 1"));
        // Whether an input is reached through a cast is known only after the pass, which has freed z's
        // graph by then (as PyTorch, which also checks after running): build it again.
        z = x.Cast<double>().Square().Cast<float>().Sum();
        Assert.That(Tensor.Grad(z, [x, unused], allowUnused: true)[1], Is.Null);
    }

    [Test]
    public void CreateGraph_ThroughCasts_GivesTheSecondDerivative()
    {
        var x = Tensor.FromArray(new[] { 1f, -2f, 0.5f }, [3], requiresGrad: true);
        var y = x.Cast<double>().Pow(3).Cast<float>().Sum();               // dy/dx = 3x², d²y/dx² = 6x
        var g = Tensor.Grad(y, x, createGraph: true)!;
        Assert.That(g.ToArray(), Is.EqualTo(new[] { 3f, 12f, 0.75f }));
        Assert.That(g.RequiresGrad, Is.True);
        var h = Tensor.Grad(g.Sum(), x)!;
        Assert.That(h.ToArray(), Is.EqualTo(new[] { 6f, -12f, 3f }));

        // Backward(createGraph) too: x.Grad is differentiable.
        var y2 = x.Cast<double>().Pow(3).Cast<float>().Sum();
        y2.Backward(createGraph: true);
        var gg = Tensor.Grad(x.Grad!.Sum(), x)!;
        Assert.That(gg.ToArray(), Is.EqualTo(new[] { 6f, -12f, 3f }));
    }

    [Test]
    public void LeafHook_OfTheOtherType_SeesOneTotalPerPass()
    {
        var w = Tensor.FromArray(new[] { 1.0, 2.0 }, [2], requiresGrad: true);
        var seen = new List<double[]>();
        w.RegisterHook(g => { seen.Add(g.ToArray()); return null; });
        var a = w.Cast<float>().Sum();            // dw = 1 through one cast
        var b = (w.Cast<float>() * 3f).Sum();     // and 3 through another
        (a + b).Backward();
        Assert.That(seen, Has.Count.EqualTo(1));
        Assert.That(seen[0], Is.EqualTo(new[] { 4.0, 4.0 }));
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(new[] { 4.0, 4.0 }));
    }

    [Test]
    public void AHookThrowingOnTheOtherType_ChangesNoGrad_OfEitherType()
    {
        var x = Tensor.FromArray(new[] { 1f, 2f }, [2], requiresGrad: true);
        var w = Tensor.FromArray(new[] { 3.0, 4.0 }, [2], requiresGrad: true);
        var fail = true;
        w.RegisterHook(g => fail ? throw new InvalidOperationException("hook failed") : null);
        var y = (x * 2f).Sum() + w.Cast<float>().Square().Sum();
        Assert.Throws<InvalidOperationException>(() => y.Backward(retainGraph: true));
        Assert.That(x.Grad, Is.Null, "a float leaf was written although a double leaf's hook threw");
        Assert.That(w.Grad, Is.Null);

        fail = false;
        y.Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 2f, 2f }));
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(new[] { 6.0, 8.0 }));
    }
}
