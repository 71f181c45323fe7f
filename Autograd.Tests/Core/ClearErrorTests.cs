using Autograd;
using Autograd.Nn;
using Autograd.Optim;

namespace Autograd.Tests.Core;

/// <summary>
/// Where users trip (issue 9): reading a non-leaf's Grad, a leaf no gradient reached, and a parameter
/// update written outside Tensor.NoGrad(). Each gets an error that says why and what to do.
/// </summary>
public class ClearErrorTests
{
    [Test]
    public void NonLeafGrad_Throws_NamingTheOpAndTheFix()
    {
        // Issue 9: Randn(..., requiresGrad: true) * 0.1f is a non-leaf whose Grad stayed null without a word.
        var w = Tensor.Randn<float>([3], new Generator(1), requiresGrad: true) * 0.1f;
        (w * w).Sum().Backward();
        var ex = Assert.Throws<InvalidOperationException>(() => _ = w.Grad);
        Assert.That(ex!.Message, Does.Contain("'Mul'").And.Contain("not a leaf").And.Contain("RetainGrad()").And.Contain("Detach()"));

        // Before any backward too: it can never be filled without RetainGrad.
        var h = Tensor.Randn<float>([3], new Generator(2), requiresGrad: true).Exp();
        Assert.Throws<InvalidOperationException>(() => _ = h.Grad);
    }

    [Test]
    public void NonLeafGrad_WorksAfterRetainGrad_AndLeavesAreUnaffected()
    {
        var x = Tensor.FromArray(new[] { 1.0, 2.0 }, [2], requiresGrad: true);
        var h = x * 3.0;
        h.RetainGrad();
        Assert.That(h.Grad, Is.Null, "retained, no pass yet");
        Assert.That(x.Grad, Is.Null, "a leaf no gradient reached yet");
        (h * h).Sum().Backward();
        Assert.That(h.Grad!.ToArray(), Is.EqualTo(new[] { 6.0, 12.0 }));
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 18.0, 36.0 }));
    }

    [Test]
    public void UpdateOutsideNoGrad_MakesTheNextStepThrowSayingSo()
    {
        // Issue 9's report: the second step failed with "Value cannot be null. (Parameter 'b')".
        var x = Tensor.FromArray(new[] { 1.0, -2.0, 0.5 }, [3]);
        var w = Tensor.FromArray(new[] { 0.1, 0.2, 0.3 }, [3], requiresGrad: true);
        var loss = (w * x).Sum();
        loss.Backward();
        w = w - 0.1 * w.Grad!;           // outside NoGrad: recorded, w is now the result of 'Sub'
        loss = (w * x).Sum();
        loss.Backward();
        var ex = Assert.Throws<InvalidOperationException>(() => w = w - 0.1 * w.Grad!);
        Assert.That(ex!.Message, Does.Contain("'Sub'").And.Contain("outside Tensor.NoGrad()").And.Contain("AddInPlace"));
    }

    [Test]
    public void InPlaceUpdatesOutsideNoGrad_ThrowSayingSo()
    {
        var w = Tensor.FromArray(new[] { 0.1, 0.2, 0.3 }, [3], requiresGrad: true);
        (w * w).Sum().Backward();
        var g = w.Grad!;
        Action[] updates =
        [
            () => w.AddInPlace(g, -0.1),
            () => w.SubInPlace(g, 0.1),
            () => w.SubInPlace(g),
            () => w.MulInPlace(0.5),
            () => w.DivInPlace(2.0),
        ];
        foreach (var update in updates)
        {
            var ex = Assert.Throws<InvalidOperationException>(() => update());
            Assert.That(ex!.Message, Does.Contain("Tensor.NoGrad()"));
        }

        Assert.That(w.ToArray(), Is.EqualTo(new[] { 0.1, 0.2, 0.3 }), "a refused update writes nothing");
        using (Tensor.NoGrad())
        {
            w.AddInPlace(g, -0.5);
        }

        Assert.That(w.IsLeaf, Is.True);
        Assert.That(w.ToArray(), Is.EqualTo(new[] { 0.0, 0.0, 0.0 }).Within(1e-15));
    }

    [Test]
    public void LeafNoGradientReached_KeepsNullGrad_OptimisersSkipIt_AndUsingItSaysWhy()
    {
        var used = Tensor.FromArray(new[] { 1.0, 2.0 }, [2], requiresGrad: true);
        var unused = Tensor.FromArray(new[] { 5.0, 6.0 }, [2], requiresGrad: true);
        var sgd = new SGD<double>([used, unused], lr: 0.1);
        (used * used).Sum().Backward();
        Assert.That(unused.Grad, Is.Null);
        sgd.Step();
        Assert.That(unused.ToArray(), Is.EqualTo(new[] { 5.0, 6.0 }), "skipped, as PyTorch's optimisers do");
        Assert.That(used.ToArray(), Is.EqualTo(new[] { 0.8, 1.6 }).Within(1e-12));

        // A hand-written update that uses the null Grad gets the reason, not a bare "(Parameter 'b')".
        var ex = Assert.Throws<ArgumentNullException>(() => _ = unused - 0.1 * unused.Grad!);
        Assert.That(ex!.Message, Does.Contain("Mul").And.Contain("stays null until a Backward()"));

        // And Tensor.Grad names an input the loss does not reach.
        var loss = (used * used).Sum();
        var unreached = Assert.Throws<InvalidOperationException>(() => Tensor.Grad(loss, [used, unused]));
        Assert.That(unreached!.Message, Does.Contain("input 1").And.Contain("not used"));
    }

    [Test]
    public void ModuleTraining_WithTheOptimiser_KeepsParametersLeaves()
    {
        var model = new Linear<float>(3, 2, generator: new Generator(3));
        var sgd = new SGD<float>(model.Parameters(), lr: 0.1);
        var x = Tensor.Randn<float>([4, 3], new Generator(4));
        for (var step = 0; step < 3; step++)
        {
            sgd.ZeroGrad();
            model.Forward(x).Pow(2.0).Sum().Backward();
            sgd.Step();
        }

        Assert.That(model.Parameters().All(p => p.IsLeaf && p.Grad is not null), Is.True);
    }

    [Test]
    public void GradientOfATensorNothingRecorded_NamesTheCallTheOutputAndTheFix()
    {
        var x = Tensor.FromArray(new double[] { 1, 2 }, [2], requiresGrad: true);
        var constant = Tensor.Zeros<double>(2, 3);
        var backward = Assert.Throws<InvalidOperationException>(() => constant.Sum().Backward())!;
        Assert.That(backward.Message, Is.EqualTo(
            "Backward: the tensor (shape []) does not require grad and was not produced by a recorded op; "
            + "set RequiresGrad on the inputs before computing it, outside Tensor.NoGrad()."));

        // Tensor.Grad names itself, and with several outputs which one.
        var y = (x * x).Sum();
        var grad = Assert.Throws<InvalidOperationException>(() => Tensor.Grad([y, constant.Sum()], [x]))!;
        Assert.That(grad.Message, Does.StartWith("Grad: output 1 (shape []) does not require grad and was not produced by a recorded op; "));
    }

    [Test]
    public void SavedTensorWrittenInPlace_MessageSaysWhatChangedAndTheFix_AndNodesSayWhenReleased()
    {
        var x = Tensor.FromArray(new double[] { 1, 2 }, [2], requiresGrad: true);
        var c = Tensor.FromArray(new double[] { 3, 4 }, [2]);
        var y = (x * c).Sum();
        c.AddInPlace(1.0);
        var e = Assert.Throws<SavedTensorModifiedException>(() => y.Backward())!;
        Assert.That(e.Message, Does.Contain("was modified in place after the op was recorded (storage version 0, now 1); "
            + "the gradient would be wrong. Modify a copy (Clone()), or modify it after Backward()."));

        var z = (x * x).Sum();
        var node = z.GradFn!;
        Assert.That(node.ToString(), Does.Match(@"^Sum#\d+ at .*ClearErrorTests\.cs:\d+$"));
        z.Backward();
        Assert.That(node.ToString(), Does.Match(@"^Sum#\d+ \(released\) at .*ClearErrorTests\.cs:\d+$"));
    }
}
