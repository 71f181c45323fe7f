using Autograd;
using Autograd.Testing;

namespace Autograd.Tests.HigherOrder;

/// <summary>Tensor.Grad (torch.autograd.grad), Backward's createGraph, hooks and RetainGrad.</summary>
public class GradApiTests
{
    private static Tensor<double> Vec(params double[] v) => Tensor.FromArray(v, [v.Length], requiresGrad: true);

    [Test]
    public void Grad_ReturnsGradients_AndLeavesEveryGradUntouched()
    {
        var x = Vec(1, 2, 3);
        var w = Vec(0.5, -1, 2);
        w.Grad = Tensor.FromArray(new[] { 7.0, 7, 7 }, [3]);
        var y = (x * w).Sum();                       // dy/dx = w, dy/dw = x
        var grads = Tensor.Grad(y, [x, w]);
        Assert.That(grads[0]!.ToArray(), Is.EqualTo(new[] { 0.5, -1, 2 }));
        Assert.That(grads[1]!.ToArray(), Is.EqualTo(new[] { 1.0, 2, 3 }));
        Assert.That(x.Grad, Is.Null);
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(new[] { 7.0, 7, 7 }));
        Assert.That(grads[0]!.RequiresGrad, Is.False);
    }

    [Test]
    public void Grad_OfANonLeafInput_IsTheGradientReachingThatTensor()
    {
        var x = Vec(1, -2);
        var h = x * x;                                // non-leaf
        var y = (h * h).Sum() + h.Sum();              // dy/dh = 2h + 1 = [3, 9]
        var gh = Tensor.Grad(y, h)!;
        Assert.That(gh.ToArray(), Is.EqualTo(new[] { 3.0, 9 }));
        Assert.That(x.Grad, Is.Null);

        // Only the part of the graph between the output and h ran, so the rest is still there.
        Assert.That(h.GradFn!.IsReleased, Is.False);
        Assert.That(y.GradFn!.IsReleased, Is.True);
    }

    [Test]
    public void Grad_WithSeveralOutputsAndCotangents_SumsTheirVjps()
    {
        var x = Vec(1, 2);
        var a = x * 3.0;
        var b = x.Exp();
        var g = Tensor.Grad([a, b], [x], [Tensor.FromArray(new[] { 1.0, -1 }, [2]), Tensor.FromArray(new[] { 2.0, 0 }, [2])]);
        Assert.That(g[0]!.ToArray(), Is.EqualTo(new[] { 3 + 2 * Math.Exp(1), -3 }).Within(1e-12));
    }

    [Test]
    public void Grad_OfAnOutputWithRespectToItself_IsTheCotangent_AndExpandedGradientsComeBackContiguous()
    {
        var x = Vec(1, 2, 3);
        var v = Tensor.FromArray(new[] { 4.0, 5, 6 }, [3]);
        Assert.That(Tensor.Grad(x, x, v)!.ToArray(), Is.EqualTo(new[] { 4.0, 5, 6 }));

        // Sum's VJP is an expanded (stride-0) view of the seed; the caller gets a tensor of its own.
        var g = Tensor.Grad(x.Sum(), x)!;
        Assert.That(g.IsContiguous, Is.True);
        Assert.That(g.Strides, Is.EqualTo(new[] { 1 }));
        Assert.That(g.ToArray(), Is.EqualTo(new[] { 1.0, 1, 1 }));
    }

    [Test]
    public void Grad_InputListedTwice_GetsItsGradientTwice()
    {
        var x = Vec(2);
        var g = Tensor.Grad((x * x).Sum(), [x, x]);
        Assert.That(g[0]!.Item(), Is.EqualTo(4.0));
        Assert.That(g[1]!.Item(), Is.EqualTo(4.0));
    }

    [Test]
    public void Grad_UnusedInput_ThrowsNamingIt_OrGivesNullWithAllowUnused()
    {
        var x = Vec(1, 2);
        var unused = Tensor.FromArray(new[] { 1.0, 2, 3 }, [3], requiresGrad: true);
        var y = (x * x).Sum();
        var ex = Assert.Throws<InvalidOperationException>(() => Tensor.Grad(y, [x, unused]));
        Assert.That(ex!.Message, Does.Contain("input 1").And.Contain("[3]").And.Contain("allowUnused"));

        // The check runs before any VJP, so the graph is still whole.
        Assert.That(y.GradFn!.IsReleased, Is.False);
        var g = Tensor.Grad(y, [x, unused], allowUnused: true);
        Assert.That(g[0]!.ToArray(), Is.EqualTo(new[] { 2.0, 4 }));
        Assert.That(g[1], Is.Null);
    }

    [Test]
    public void Grad_ArgumentErrors_NameTheProblem()
    {
        var x = Vec(1, 2);
        var c = Tensor.FromArray(new[] { 1.0, 2 }, [2]);
        var y = (x * x).Sum();
        Assert.That(Assert.Throws<ArgumentException>(() => Tensor.Grad(y, [c]))!.Message, Does.Contain("input 0").And.Contain("does not require grad"));
        Assert.That(Assert.Throws<InvalidOperationException>(() => Tensor.Grad(x * x, [x]))!.Message, Does.Contain("one-element"));
        Assert.That(Assert.Throws<ArgumentException>(() => Tensor.Grad(y, [x], Tensor.Ones<double>(2)))!.Message, Does.Contain("[2]").And.Contain("[]"));
        Assert.That(Assert.Throws<InvalidOperationException>(() => Tensor.Grad(c.Sum(), [x]))!.Message, Does.Contain("does not require grad"));
        Assert.That(Assert.Throws<ArgumentException>(() => Tensor.Grad([y], [x], [null, null]))!.Message, Does.Contain("2 gradOutputs for 1 outputs"));
    }

    [Test]
    public void Grad_RetainGraphDefaultsToCreateGraph()
    {
        var x = Vec(1.5);
        var y = (x * x * x).Sum();
        Tensor.Grad(y, x);
        Assert.Throws<InvalidOperationException>(() => Tensor.Grad(y, x));

        var z = (x * x * x).Sum();
        Tensor.Grad(z, x, createGraph: true);
        Assert.DoesNotThrow(() => Tensor.Grad(z, x));
    }

    [Test]
    public void CreateGraph_GivesDifferentiableGradients_UpToTheThirdOrder()
    {
        // y = x⁴: y' = 4x³, y'' = 12x², y''' = 24x.
        var x = Vec(1.5);
        var y = (x * x * x * x).Sum();
        var d1 = Tensor.Grad(y, x, createGraph: true)!;
        Assert.That(d1.RequiresGrad, Is.True);
        Assert.That(d1.Item(), Is.EqualTo(4 * Math.Pow(1.5, 3)).Within(1e-12));
        var d2 = Tensor.Grad(d1.Sum(), x, createGraph: true)!;
        Assert.That(d2.Item(), Is.EqualTo(12 * 1.5 * 1.5).Within(1e-12));
        var d3 = Tensor.Grad(d2.Sum(), x)!;
        Assert.That(d3.Item(), Is.EqualTo(24 * 1.5).Within(1e-12));
    }

    [Test]
    public void BackwardWithCreateGraph_StoresGraphConnectedGrads()
    {
        // y = Σ x²·w: dy/dx = 2xw; then Σ dy/dx differentiated with respect to w is 2x.
        var x = Vec(1, -3);
        var w = Vec(2, 0.5);
        var y = (x * x * w).Sum();
        y.Backward(createGraph: true);
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 4.0, -3 }));
        Assert.That(x.Grad.RequiresGrad, Is.True);
        var dw = Tensor.Grad(x.Grad.Sum(), w, retainGraph: true)!;
        Assert.That(dw.ToArray(), Is.EqualTo(new[] { 2.0, -6 }));

        // A second createGraph pass accumulates out of place: Grad = Grad + g, still differentiable.
        y.Backward(createGraph: true);
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 8.0, -6 }));
        Assert.That(Tensor.Grad(x.Grad.Sum(), w)!.ToArray(), Is.EqualTo(new[] { 4.0, -12 }));

        // That pass freed the graph behind x.Grad: going through it again throws instead of dropping a term.
        Assert.Throws<InvalidOperationException>(() => Tensor.Grad(x.Grad.Sum(), w));
    }

    [Test]
    public void HessianVectorProduct_MatchesHandDerivedValues()
    {
        // f(x) = Σ xᵢ³ + x₀·x₁ at x = (1, 2): ∇f = (3x₀² + x₁, 3x₁² + x₀) = (5, 13),
        // H = [[6x₀, 1], [1, 6x₁]] = [[6, 1], [1, 12]], and for v = (0.5, −1): Hv = (2, −11.5).
        var x = Vec(1, 2);
        var v = Tensor.FromArray(new[] { 0.5, -1 }, [2]);
        var f = (x * x * x).Sum() + (x.Select(0, 0) * x.Select(0, 1));
        var grad = Tensor.Grad(f, x, createGraph: true)!;
        Assert.That(grad.ToArray(), Is.EqualTo(new[] { 5.0, 13 }));
        var hv = Tensor.Grad((grad * v).Sum(), x)!;
        Assert.That(hv.ToArray(), Is.EqualTo(new[] { 2.0, -11.5 }).Within(1e-12));
    }

    [Test]
    public void HessianVectorProduct_OfASoftmaxLoss_MatchesTheClosedForm()
    {
        // L(z) = CrossEntropy(z, t) for one row: ∇L = p − e_t, H = diag(p) − p·pᵀ, so Hv = p ⊙ v − p·(pᵀv).
        double[] z0 = [0.3, -1.2, 2.0];
        var z = Tensor.FromArray(z0, [1, 3], requiresGrad: true);
        var v = Tensor.FromArray(new[] { 1.0, -2, 0.5 }, [1, 3]);
        var loss = z.CrossEntropy([1]);
        var g = Tensor.Grad(loss, z, createGraph: true)!;
        var hv = Tensor.Grad((g * v).Sum(), z)!.ToArray();
        var e = z0.Select(Math.Exp).ToArray();
        var p = e.Select(a => a / e.Sum()).ToArray();
        var pv = p[0] * 1 + p[1] * -2 + p[2] * 0.5;
        double[] expected = [p[0] * (1 - pv), p[1] * (-2 - pv), p[2] * (0.5 - pv)];
        Assert.That(hv, Is.EqualTo(expected).Within(1e-12));
    }

    [Test]
    public void Hook_ReplacesTheGradient_AndItsHandleRemovesIt()
    {
        var x = Vec(1, 2);
        var h = x * 3.0;
        var seen = new List<double[]>();
        var observe = h.RegisterHook(g => seen.Add(g.ToArray()));
        var handle = h.RegisterHook(g => g * 10.0);
        (h * h).Sum().Backward(retainGraph: true);   // dh = 2h = [6, 12], hooked ×10, then ×3 to x
        Assert.That(seen.Single(), Is.EqualTo(new[] { 6.0, 12 }));
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 180.0, 360 }));

        handle.Remove();
        handle.Dispose();                             // a second removal does nothing
        observe.Dispose();
        x.Grad = null;
        (h * h).Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 18.0, 36 }));
        Assert.That(seen, Has.Count.EqualTo(1));
    }

    [Test]
    public void LeafHook_SeesThePassTotalOnce_BeforeItIsAccumulated()
    {
        var x = Vec(2);
        var calls = new List<double>();
        x.RegisterHook(g =>
        {
            calls.Add(g.Item());
            return g * 2.0;
        });
        (x * x + x * 3.0).Sum().Backward();           // 2x + 3 = 7 from two uses, doubled by the hook
        Assert.That(calls, Is.EqualTo(new[] { 7.0 }));
        Assert.That(x.Grad!.Item(), Is.EqualTo(14.0));
        Assert.That(Tensor.Grad((x * x).Sum(), x)!.Item(), Is.EqualTo(8.0), "Tensor.Grad applies hooks to what it returns");
    }

    [Test]
    public void Hook_ChangingTheShape_Throws_AndOnATensorWithoutGrad_IsRefused()
    {
        var x = Vec(1, 2);
        var h = x * 2.0;
        h.RegisterHook(g => Tensor.Ones<double>(3));
        var ex = Assert.Throws<InvalidOperationException>(() => h.Sum().Backward());
        Assert.That(ex!.Message, Does.Contain("Mul").And.Contain("[3]").And.Contain("[2]"));
        Assert.Throws<InvalidOperationException>(() => Tensor.Ones<double>(2).RegisterHook(g => g));
    }

    [Test]
    public void RetainGrad_StoresANonLeafGradient_OnlyInBackward()
    {
        var x = Vec(1, -1);
        var h = x * x;
        Assert.That(h.RetainsGrad, Is.False);
        h.RetainGrad();
        Assert.That(h.RetainsGrad, Is.True);
        var y = (h * 5.0).Sum();
        Tensor.Grad(y, x, retainGraph: true);
        Assert.That(h.Grad, Is.Null, "Tensor.Grad leaves Grad alone");
        y.Backward(retainGraph: true);
        Assert.That(h.Grad!.ToArray(), Is.EqualTo(new[] { 5.0, 5 }));
        y.Backward();
        Assert.That(h.Grad!.ToArray(), Is.EqualTo(new[] { 10.0, 10 }));
        x.RetainGrad();                               // a leaf: nothing to do
        Assert.That(x.RetainsGrad, Is.False);
    }

    [Test]
    public void ReleasedGraph_OutsideThePathToTheInputs_DoesNotStopGrad()
    {
        var x = Vec(1, 2);
        var h = x.Exp();
        var a = (h * 2.0).Sum();
        a.Backward();                                 // releases Exp and Mul/Sum of a
        var b = (h * h).Sum();
        Assert.That(Tensor.Grad(b, h)!.ToArray(), Is.EqualTo(h.ToArray().Select(v => 2 * v)).Within(1e-12));
        var ex = Assert.Throws<InvalidOperationException>(() => Tensor.Grad((h * h).Sum(), x));
        Assert.That(ex!.Message, Does.Contain("Exp").And.Contain("retainGraph"));
    }

    [Test]
    public void CustomFunction_OnceDifferentiable_ThrowsOnASecondDerivative_DifferentiableOneWorks()
    {
        var x = Vec(0.5, 2);

        // Square with a backward that reads raw values: fine once, refuses to be differentiated again.
        var raw = Function.Apply("RawSquare", [x], xs =>
        {
            var v = xs[0].ToArray();
            var input = xs[0];
            return (Tensor.FromArray(v.Select(a => a * a).ToArray(), [v.Length]),
                (g, grads) => grads[0] = Tensor.FromArray(g.ToArray().Zip(input.ToArray(), (gi, a) => 2 * a * gi).ToArray(), [v.Length]));
        });
        var d1 = Tensor.Grad(raw.Sum(), x, createGraph: true)!;
        Assert.That(d1.ToArray(), Is.EqualTo(new[] { 1.0, 4 }));
        var ex = Assert.Throws<InvalidOperationException>(() => Tensor.Grad(d1.Sum(), x));
        Assert.That(ex!.Message, Does.Contain("RawSquare").And.Contain("differentiableBackward"));

        // The same op with its backward written in tensor ops, declared differentiable: d²(x²)/dx² = 2.
        var square = Function.Apply("Square", [x], xs =>
        {
            var input = xs[0];
            return (Tensor.FromArray(input.ToArray().Select(a => a * a).ToArray(), [2]), (g, grads) => grads[0] = g * input * 2.0);
        }, differentiableBackward: true);
        var s1 = Tensor.Grad(square.Sum(), x, createGraph: true)!;
        Assert.That(Tensor.Grad(s1.Sum(), x)!.ToArray(), Is.EqualTo(new[] { 2.0, 2 }));
    }

    [Test]
    public void AsStridedOfAnOverlappingView_IsDifferentiableTwice()
    {
        // The input of AsStrided is an expanded view: storage elements it reads several times share
        // their gradient, the weighted scatter/gather pair of AsStrided's VJP. Squared, so the second
        // derivative is not zero.
        var x = Tensor.FromArray(new[] { 0.3, -0.7 }, [1, 2], requiresGrad: true);
        Func<Tensor<double>[], Tensor<double>> f = xs =>
        {
            var y = xs[0].Expand(3, 2).AsStrided([2, 3], [1, 0], 0);
            return y * y;
        };
        Assert.That(GradCheck.Check(f, [x]).Passed, Is.True);
        var result = GradGradCheck.Check(f, [x]);
        Assert.That(result.Passed, result.Message);
    }

    [Test]
    public void GradGradCheck_FailsOnAWrongFirstOrderVjp()
    {
        // The VJP claims d(x²)/dx = 3x, written in recorded ops: its own derivatives (d/dx of 3x·v is 3v,
        // d/dv is 3x) match finite differences of the same wrong backward, so only the first-order check,
        // which GradGradCheck now runs first, can catch it.
        var x = Vec(0.3, -0.7, 1.1);
        Func<Tensor<double>[], Tensor<double>> f = xs => Function.Apply("WrongSquare", [xs[0]], ins =>
        {
            var input = ins[0];
            return (Tensor.FromArray(input.ToArray().Select(a => a * a).ToArray(), [3]), (g, grads) => grads[0] = g * input * 3.0);
        }, differentiableBackward: true);
        var result = GradGradCheck.Check(f, [x]);
        Assert.That(result.Passed, Is.False);
        Assert.That(result.Message, Does.Contain("first-order check failed"));

        // The same op with the right VJP passes both orders.
        Func<Tensor<double>[], Tensor<double>> right = xs => Function.Apply("Square", [xs[0]], ins =>
        {
            var input = ins[0];
            return (Tensor.FromArray(input.ToArray().Select(a => a * a).ToArray(), [3]), (g, grads) => grads[0] = g * input * 2.0);
        }, differentiableBackward: true);
        var passed = GradGradCheck.Check(right, [x]);
        Assert.That(passed.Passed, passed.Message);
    }

    [Test]
    public void WithoutCreateGraph_BackwardRecordsNothing()
    {
        var x = Tensor.Randn<double>([2, 3, 6, 6], new Generator(3), requiresGrad: true);
        var w = Tensor.Randn<double>([4, 3, 3, 3], new Generator(4), requiresGrad: true);
        var loss = x.Conv2d(w, padding: 1).Relu().MaxPool2d(2).Max(1).Sum();
        var before = Tape.Current.NodesRecorded;
        loss.Backward();
        Assert.That(Tape.Current.NodesRecorded, Is.EqualTo(before));
        Assert.That(x.Grad!.RequiresGrad, Is.False);
    }
}
