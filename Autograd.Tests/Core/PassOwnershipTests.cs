using Autograd;
using Autograd.Kernels;

namespace Autograd.Tests.Core;

/// <summary>
/// The engine reuses and recycles the gradients it owns (fresh results of built-in VJPs, sums it made),
/// and never one a user can reach: what hooks see or return, RetainGrad values, Tensor.Grad's results,
/// a createGraph pass's gradients, a custom Function's gradients.
/// </summary>
[NonParallelizable] // Toggles the pool's process-wide stress hook.
public class PassOwnershipTests
{
    private const int N = 4096; // pooled: 16 KiB of floats

    private static Tensor<float> Leaf(int seed) => Tensor.Randn<float>([N], new Generator((ulong)seed), requiresGrad: true);

    /// <summary>
    /// Several passes over fresh graphs of the same size class, with every pool miss collecting first:
    /// a buffer the engine recycled while a user still held it is rented again and overwritten here.
    /// </summary>
    private static void Churn()
    {
        BufferPool.Collect();
        for (var i = 0; i < 6; i++)
        {
            var a = Leaf(100 + i);
            var b = Leaf(200 + i);
            var h = (a.Relu() * b).Exp();
            (h * h + a * 3f).Sum().Backward();
        }

        BufferPool.Collect();
    }

    private static void WithStress(Action body)
    {
        BufferPool.StressCollect = true;
        try
        {
            body();
        }
        finally
        {
            BufferPool.StressCollect = false;
        }
    }

    private static void AssertKept(List<(Tensor<float> Tensor, float[] Values)> kept, int expected)
    {
        Assert.That(kept, Has.Count.EqualTo(expected));
        for (var i = 0; i < kept.Count; i++)
        {
            Assert.That(kept[i].Tensor.ToArray(), Is.EqualTo(kept[i].Values), $"kept gradient {i} changed after later passes");
        }
    }

    [Test]
    public void GradientsHooksSeeOrReturn_AreNeverReusedOrRecycled() => WithStress(() =>
    {
        var kept = new List<(Tensor<float>, float[])>();
        var x = Leaf(1);
        var w = Leaf(2);
        x.RegisterHook(g => kept.Add((g, g.ToArray())));          // a leaf's total (two uses of x sum into it)
        var h = x.Relu() * w;
        h.RegisterHook(g => kept.Add((g, g.ToArray())));          // a fresh gradient of a built-in VJP
        var e = h.Exp();
        e.RegisterHook(g =>
        {
            var replaced = g * 0.5f;                              // a replacement the hook keeps
            kept.Add((replaced, replaced.ToArray()));
            return replaced;
        });
        ((e * e).Sum() + (x * x).Sum()).Backward();
        Churn();
        AssertKept(kept, 3);
    });

    [Test]
    public void RetainGradValues_AreNeverReusedOrRecycled() => WithStress(() =>
    {
        var x = Leaf(3);
        var w = Leaf(4);
        var h = x.Relu() * w;
        var e = h.Exp();
        h.RetainGrad();
        e.RetainGrad();
        (e * e + h).Sum().Backward();
        var kept = new List<(Tensor<float>, float[])> { (h.Grad!, h.Grad!.ToArray()), (e.Grad!, e.Grad!.ToArray()), (x.Grad!, x.Grad!.ToArray()) };
        Churn();
        AssertKept(kept, 3);
    });

    [Test]
    public void TensorGradResults_AreNeverReusedOrRecycled() => WithStress(() =>
    {
        var x = Leaf(5);
        var w = Leaf(6);
        var h = x.Relu() * w;
        var e = h.Exp();
        var loss = (e * e + x * x).Sum();
        var grads = Tensor.Grad(loss, [h, x, w, e]);
        var kept = grads.Select(g => (g!, g!.ToArray())).ToList();
        Churn();
        AssertKept(kept, 4);
        Assert.That(x.Grad, Is.Null);
    });

    [Test]
    public void LeafGradients_HandedOver_StayTheLeafsOwn() => WithStress(() =>
    {
        // x and w get fresh gradients from built-in VJPs, summed over two uses each: the sum and the
        // hand-over are the engine's, the Grad afterwards is the user's, across passes.
        var x = Leaf(7);
        var w = Leaf(8);
        var loss = ((x.Relu() * w).Exp() + x * w).Sum();
        loss.Backward();
        Assert.That(x.Grad!.Storage.IsPooled, Is.True, "x's first gradient is handed over from the VJP, not copied into a plain array");
        var kept = new List<(Tensor<float>, float[])> { (x.Grad!, x.Grad!.ToArray()), (w.Grad!, w.Grad!.ToArray()) };
        Churn();
        AssertKept(kept, 2);

        // A second pass accumulates in place into the handed-over buffers.
        var again = ((x.Relu() * w).Exp() + x * w).Sum();
        again.Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(kept[0].Item2.Select(v => v * 2).ToArray()).Within(1e-4f));
        Assert.That(ReferenceEquals(x.Grad, kept[0].Item1), Is.True);
    });

    [Test]
    public void TransposedWeightGradient_IsHandedOver_OnlyWhenThePassOwnedIt() => WithStress(() =>
    {
        // Linear's pattern, x·Wᵀ: the matmul returns (dYᵀ·x)ᵀ for Wᵀ, a transpose of a fresh buffer, and the
        // transpose's VJP hands that buffer on to W.Grad (that it is not copied shows in the GPT step's profile,
        // not here); W.Grad is the user's from then on.
        var g0 = new Generator(7);
        var x = Tensor.Randn<float>([64, 64], g0);
        var w = Tensor.Randn<float>([64, 64], g0, requiresGrad: true);
        var up = Tensor.Randn<float>([64, 64], g0);
        var expected = up.Transpose(0, 1).MatMul(x).ToArray();
        x.MatMul(w.Transpose(0, 1)).Backward(up);
        Assert.That(w.Grad!.IsContiguous, Is.True);
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(expected).Within(1e-3f));
        var kept = new List<(Tensor<float>, float[])> { (w.Grad!, w.Grad!.ToArray()) };
        Churn();
        AssertKept(kept, 1);

        // A hook on Wᵀ keeps its gradient: the pass gives it up, so W.Grad must be a copy, and the second
        // pass's accumulation into W.Grad in place leaves the hook's tensor alone.
        w.Grad = null;
        kept.Clear();
        var wt = w.Transpose(0, 1);
        wt.RegisterHook(g => kept.Add((g, g.ToArray())));
        x.MatMul(wt).Backward(up);
        x.MatMul(w.Transpose(0, 1)).Backward(up);
        Churn();
        AssertKept(kept, 1);
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(expected.Select(v => 2 * v).ToArray()).Within(2e-3f));
    });

    /// <summary>A custom op that keeps the gradient it is given and the one it returns, as user code may.</summary>
    private sealed class Keeper : Function<float>
    {
        public List<(Tensor<float> Tensor, float[] Values)> Kept { get; } = [];

        protected override Tensor<float> Forward(FunctionContext<float> ctx, Tensor<float>[] inputs) => inputs[0] * 3f;

        protected override void Backward(FunctionContext<float> ctx, Tensor<float> g, Span<Tensor<float>?> grads)
        {
            Kept.Add((g, g.ToArray()));
            var gx = g * 3f;
            Kept.Add((gx, gx.ToArray()));
            grads[0] = gx;
        }
    }

    [Test]
    public void CustomFunctionGradients_AreNeverReusedOrRecycled() => WithStress(() =>
    {
        // The custom op is given Exp's fresh (pass-owned) gradient and returns a fresh one that reaches x
        // alone: were its node built in, the first would go back to the pool after its backward and the
        // second would become x's Grad, and be accumulated into by the second pass.
        var f = new Keeper();
        var x = Leaf(10);
        f.Apply(x).Exp().Sum().Backward();
        Assert.That(ReferenceEquals(x.Grad, f.Kept[1].Tensor), Is.False, "a custom op's gradient is copied into Grad, not handed over");
        f.Apply(x).Exp().Sum().Backward();
        Churn();
        AssertKept(f.Kept, 4);
    });

    [Test]
    public void NodeKinds_DeclareWhetherTheirVjpIsBuiltIn()
    {
        var x = Leaf(11);
        var w = Tensor.Randn<float>([N, 2], new Generator(12), requiresGrad: true);
        Assert.That(x.Exp()._gradFn!.IsBuiltIn, Is.True, "an elementwise op's own node");
        Assert.That(x.Unsqueeze(0).MatMul(w)._gradFn!.IsBuiltIn, Is.True, "a DelegateNode recorded by an op");
        Assert.That(x.Cast<double>()._gradFn!.IsBuiltIn, Is.True, "a cast's node");
        Assert.That(new Keeper().Apply(x)._gradFn!.IsBuiltIn, Is.False, "Function<T>'s node");
        Assert.That(Function.Apply("Twice", [x], xs => (xs[0] * 2f, (g, grads) => grads[0] = g * 2f))._gradFn!.IsBuiltIn, Is.False, "Function.Apply's node");
    }

    [Test]
    public void CreateGraphGradients_AreNeverReusedOrRecycled() => WithStress(() =>
    {
        var x = Leaf(9);
        var y = (x.Relu() * x).Exp();
        var loss = (y + x * x).Sum();
        loss.Backward(createGraph: true);
        var g1 = x.Grad!;
        var kept = new List<(Tensor<float>, float[])> { (g1, g1.ToArray()) };
        Churn();
        AssertKept(kept, 1);
        x.Grad = null;
        g1.Sum().Backward(); // the recorded gradient graph is intact
        Assert.That(x.Grad, Is.Not.Null);
    });
}
