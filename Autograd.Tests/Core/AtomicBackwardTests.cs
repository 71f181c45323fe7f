using Autograd;

namespace Autograd.Tests.Core;

/// <summary>
/// A backward pass is all or nothing: when a VJP or a hook throws, no leaf's or RetainGrad tensor's
/// <c>Grad</c> has changed and no node was released, so the same call succeeds once the cause is gone
/// and gives the gradient a clean run gives.
/// </summary>
public class AtomicBackwardTests
{
    /// <summary>y = x³ (elementwise), whose backward throws while <see cref="Fail"/> is set.</summary>
    private sealed class Flaky : Function<double>
    {
        public bool Fail { get; set; }

        public override bool IsBackwardDifferentiable => true;

        protected override Tensor<double> Forward(FunctionContext<double> ctx, Tensor<double>[] inputs)
        {
            ctx.SaveForBackward(inputs[0]);
            return inputs[0] * inputs[0] * inputs[0];
        }

        protected override void Backward(FunctionContext<double> ctx, Tensor<double> gradOutput, Span<Tensor<double>?> inputGrads)
        {
            if (Fail)
            {
                throw new InvalidOperationException("planted failure");
            }

            var x = ctx.SavedTensors[0];
            inputGrads[0] = gradOutput * x * x * 3.0;
        }
    }

    private sealed class Graph
    {
        public readonly Tensor<double> X = Tensor.FromArray(new[] { 0.5, -1.0, 2.0 }, [3], requiresGrad: true);
        public readonly Tensor<double> W = Tensor.FromArray(new[] { 1.5, 0.25, -0.5 }, [3], requiresGrad: true);
        public readonly Tensor<double> V = Tensor.FromArray(new[] { -2.0, 1.0, 0.75 }, [3], requiresGrad: true);
        public readonly Tensor<double> B;
        public readonly Tensor<double> Loss;

        public Graph(Flaky f, bool presetGrads)
        {
            if (presetGrads)
            {
                X.Grad = Tensor.FromArray(new[] { 10.0, 20.0, 30.0 }, [3]);
                W.Grad = Tensor.FromArray(new[] { -1.0, -2.0, -3.0 }, [3]);
            }

            // The flaky op is recorded first, so it runs last: W, V and B have received their
            // gradients by the time it throws.
            var a = f.Apply(X);
            B = a * W;
            B.RetainGrad();
            Loss = (B * V).Sum() + (W * W).Sum() + V.Exp().Sum();
        }
    }

    private static double[]? Values(Tensor<double>? t) => t?.ToArray();

    private static void AssertIntact(Node? node)
    {
        if (node is not Node<double> n)
        {
            return;
        }

        Assert.That(n.IsReleased, Is.False, $"{n} was released by a pass that threw");
        foreach (var input in n.Inputs)
        {
            AssertIntact(input.GradFn);
        }
    }

    [TestCase(false, false, false)]
    [TestCase(true, false, false)]
    [TestCase(false, true, false)]
    [TestCase(true, true, false)]
    [TestCase(false, true, true)]
    [TestCase(true, true, true)]
    public void ThrowingVjp_ChangesNoGrad_AndARetryGivesTheCleanGradients(bool presetGrads, bool retainGraph, bool createGraph)
    {
        var clean = new Graph(new Flaky(), presetGrads);
        clean.Loss.Backward(retainGraph: retainGraph, createGraph: createGraph);

        var flaky = new Flaky { Fail = true };
        var g = new Graph(flaky, presetGrads);
        var before = (X: Values(g.X.Grad), W: Values(g.W.Grad), V: Values(g.V.Grad));
        var ex = Assert.Throws<InvalidOperationException>(() => g.Loss.Backward(retainGraph: retainGraph, createGraph: createGraph));
        Assert.That(ex!.Message, Does.Contain("planted failure"));

        Assert.That(Values(g.X.Grad), Is.EqualTo(before.X));
        Assert.That(Values(g.W.Grad), Is.EqualTo(before.W), "W's gradient arrived before the failing VJP ran");
        Assert.That(Values(g.V.Grad), Is.EqualTo(before.V));
        Assert.That(g.B.Grad, Is.Null, "B's retained gradient arrived before the failing VJP ran");
        AssertIntact(g.Loss.GradFn);

        flaky.Fail = false;
        g.Loss.Backward(retainGraph: retainGraph, createGraph: createGraph);
        Assert.That(Values(g.X.Grad), Is.EqualTo(Values(clean.X.Grad)));
        Assert.That(Values(g.W.Grad), Is.EqualTo(Values(clean.W.Grad)));
        Assert.That(Values(g.V.Grad), Is.EqualTo(Values(clean.V.Grad)));
        Assert.That(Values(g.B.Grad), Is.EqualTo(Values(clean.B.Grad)));
        Assert.That(g.Loss.GradFn!.IsReleased, Is.EqualTo(!retainGraph));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void ThrowingLeafHook_ChangesNoGrad_AndARetryWorks(bool onLastLeaf)
    {
        var clean = new Graph(new Flaky(), presetGrads: true);
        clean.Loss.Backward();

        var g = new Graph(new Flaky(), presetGrads: true);
        var before = (X: Values(g.X.Grad), W: Values(g.W.Grad));

        // Hooks of leaves run once their total is final, before any Grad is written: either leaf's hook failing must
        // still leave both Grads as they were.
        var hooked = onLastLeaf ? g.X : g.V;
        var handle = hooked.RegisterHook(_ => throw new InvalidOperationException("hook failure"));
        Assert.Throws<InvalidOperationException>(() => g.Loss.Backward());
        Assert.That(Values(g.X.Grad), Is.EqualTo(before.X));
        Assert.That(Values(g.W.Grad), Is.EqualTo(before.W));
        Assert.That(g.V.Grad, Is.Null);
        Assert.That(g.B.Grad, Is.Null);
        AssertIntact(g.Loss.GradFn);

        handle.Remove();
        g.Loss.Backward();
        Assert.That(Values(g.X.Grad), Is.EqualTo(Values(clean.X.Grad)));
        Assert.That(Values(g.W.Grad), Is.EqualTo(Values(clean.W.Grad)));
        Assert.That(Values(g.V.Grad), Is.EqualTo(Values(clean.V.Grad)));
    }

    [Test]
    public void ThrowingNonLeafHook_ChangesNoGrad()
    {
        var g = new Graph(new Flaky(), presetGrads: false);
        var fail = true;
        g.B.RegisterHook(_ => fail ? throw new InvalidOperationException("hook failure") : null);
        Assert.Throws<InvalidOperationException>(() => g.Loss.Backward());
        Assert.That(g.W.Grad, Is.Null);
        Assert.That(g.V.Grad, Is.Null);
        AssertIntact(g.Loss.GradFn);

        fail = false;
        g.Loss.Backward();
        Assert.That(g.X.Grad, Is.Not.Null);
    }

    [Test]
    public void ThrowingVjpUnderTensorGrad_KeepsTheGraph_AndARetryWorks()
    {
        var clean = new Graph(new Flaky(), presetGrads: false);
        var expected = Tensor.Grad(clean.Loss, [clean.X, clean.W]);

        var flaky = new Flaky { Fail = true };
        var g = new Graph(flaky, presetGrads: false);
        Assert.Throws<InvalidOperationException>(() => Tensor.Grad(g.Loss, [g.X, g.W]));
        AssertIntact(g.Loss.GradFn);
        flaky.Fail = false;
        var got = Tensor.Grad(g.Loss, [g.X, g.W]);
        Assert.That(got[0]!.ToArray(), Is.EqualTo(expected[0]!.ToArray()));
        Assert.That(got[1]!.ToArray(), Is.EqualTo(expected[1]!.ToArray()));
        Assert.That(g.X.Grad, Is.Null);
    }
}
