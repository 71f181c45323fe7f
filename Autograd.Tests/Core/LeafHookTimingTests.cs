using Autograd;

namespace Autograd.Tests.Core;

/// <summary>
/// When a leaf's hooks run (as soon as its pass total is final, while the rest of backward runs, as
/// PyTorch's hooks on AccumulateGrad: what data-parallel training overlaps its all-reduces with) and the
/// post-accumulate-grad hooks (PyTorch's register_post_accumulate_grad_hook: after Grad is written).
/// </summary>
public class LeafHookTimingTests
{
    [Test]
    public void LeafHook_RunsWhenItsTotalIsFinal_BeforeEarlierOpsRunTheirBackward()
    {
        // loss = Σ (2a · b): backward runs Sum, then Mul(h, b) (after which b's total is final), then
        // Mul(a, 2) (whose output h's hook runs first), then a's total is final.
        var a = Tensor.FromArray([1.0, 2.0], requiresGrad: true);
        var b = Tensor.FromArray([3.0, 4.0], requiresGrad: true);
        var order = new List<string>();
        var h = a * 2.0;
        h.RegisterHook(_ => order.Add("h"));
        a.RegisterHook(_ => order.Add("a"));
        b.RegisterHook(_ => order.Add("b"));
        (h * b).Sum().Backward();
        Assert.That(order, Is.EqualTo(new[] { "b", "h", "a" }));
    }

    [Test]
    public void LeafHook_OfATiedLeaf_WaitsForItsLastUse_AndSeesTheTotal()
    {
        // w is used early and late in the forward; its hook must see both contributions, once.
        var w = Tensor.FromArray([1.0, -2.0], requiresGrad: true);
        var x = Tensor.FromArray([0.5, 3.0]);
        var seen = new List<double[]>();
        w.RegisterHook(g => seen.Add(g.ToArray()));
        var y = (x * w).Tanh() * w;
        y.Sum().Backward();
        Assert.That(seen, Has.Count.EqualTo(1));
        Assert.That(seen[0], Is.EqualTo(w.Grad!.ToArray()));
    }

    [Test]
    public void PostAccumulateGradHook_SeesTheWrittenGrad_AfterEveryWriteOfThePass()
    {
        var a = Tensor.FromArray([1.0, 2.0], requiresGrad: true);
        var b = Tensor.FromArray([3.0, 4.0], requiresGrad: true);
        var seen = new List<(double[] A, double[]? B)>();
        using var handle = a.RegisterPostAccumulateGradHook(t => seen.Add((t.Grad!.ToArray(), b.Grad?.ToArray())));
        (a * b).Sum().Backward();
        Assert.That(seen, Has.Count.EqualTo(1));
        Assert.That(seen[0].A, Is.EqualTo(new[] { 3.0, 4.0 }));
        Assert.That(seen[0].B, Is.EqualTo(new[] { 1.0, 2.0 }), "every Grad of the pass is written before the hooks run");

        // Accumulation: the hook sees the sum of both passes.
        (a * b).Sum().Backward();
        Assert.That(seen[1].A, Is.EqualTo(new[] { 6.0, 8.0 }));

        handle.Remove();
        (a * b).Sum().Backward();
        Assert.That(seen, Has.Count.EqualTo(2));
    }

    [Test]
    public void PostAccumulateGradHook_IsNotCalledByTensorGrad_NorForALeafThePassDoesNotReach()
    {
        var a = Tensor.FromArray([1.0, 2.0], requiresGrad: true);
        var unused = Tensor.FromArray([1.0], requiresGrad: true);
        var calls = 0;
        a.RegisterPostAccumulateGradHook(_ => calls++);
        unused.RegisterPostAccumulateGradHook(_ => calls += 100);
        _ = Tensor.Grad((a * a).Sum(), a);
        Assert.That(calls, Is.Zero);
        (a * a).Sum().Backward();
        Assert.That(calls, Is.EqualTo(1));
    }

    [Test]
    public void PostAccumulateGradHook_OnANonLeafOrATensorWithoutGrad_Throws()
    {
        var a = Tensor.FromArray([1.0, 2.0], requiresGrad: true);
        var ex = Assert.Throws<InvalidOperationException>(() => (a * 2.0).RegisterPostAccumulateGradHook(_ => { }));
        Assert.That(ex!.Message, Does.Contain("RegisterPostAccumulateGradHook").And.Contain("not a leaf").And.Contain("[2]"));
        Assert.Throws<InvalidOperationException>(() => Tensor.FromArray([1.0]).RegisterPostAccumulateGradHook(_ => { }));
        Assert.Throws<ArgumentNullException>(() => a.RegisterPostAccumulateGradHook(null!));
    }
}
