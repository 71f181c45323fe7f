using Autograd;
using Autograd.Testing;

namespace Autograd.Tests.Ops;

/// <summary>
/// Readiness for create_graph: each new layer's and loss's VJP is run with grad mode on (as a recording
/// backward pass would run it), and the gradient it returns, as a function of the op's inputs and of the
/// upstream gradient g, is checked against finite differences. This is PyTorch's gradgradcheck for these
/// ops, done by hand until the engine can record a backward pass itself.
/// </summary>
[Category("GradProperty")]
public class LayerVjpDifferentiabilityTests
{
    /// <summary>
    /// Checks (inputs…, g) ↦ VJP_input(g) of the op's recorded node at <paramref name="input"/>. Every
    /// leaf requires grad; the VJP runs with grad on, so whatever it computes is recorded and differentiable.
    /// </summary>
    private static GradCheckResult CheckVjp(Func<Tensor<double>[], Tensor<double>> op, Tensor<double>[] leaves, int input, Generator gen)
    {
        int[] outShape;
        using (Tensor.NoGrad())
        {
            outShape = op(leaves).Shape;
        }

        var (g, _) = Inputs.Make(outShape, ViewKind.Contiguous, gen);
        return GradCheck.Check(
            t =>
            {
                using (Tensor.EnableGrad())
                {
                    var y = op(t[..^1]);
                    var node = (Node<double>)y.GradFn!;
                    var grads = new Tensor<double>?[node.Inputs.Count];
                    node._vjp!(t[^1], grads);
                    return grads[input]!;
                }
            },
            [.. leaves, g]);
    }

    private static Tensor<double> Leaf(int[] shape, Generator gen, double lo = -1, double hi = 1) => Inputs.Make(shape, ViewKind.Contiguous, gen, lo, hi).Leaf;

    [Test]
    public void LayerNormAndBatchNorm2d_VjpsAreDifferentiable() =>
        GradProperty.Check(
            new CaseSpec().Int("n", 1, 2).Int("c", 1, 3).Int("h", 1, 2).Int("w", 1, 3).Int("op", 0, 2).Int("input", 0, 2)
                .Where(c => c["op"] != 1 || c["n"] * c["h"] * c["w"] > 1),
            c =>
            {
                var gen = c.Generator();
                var x = Leaf([c["n"], c["c"], c["h"], c["w"]], gen, -2, 2);
                var input = c["input"];
                if (c["op"] == 0)
                {
                    // LayerNorm over [H, W] with an affine weight and bias.
                    int[] normalized = [c["h"], c["w"]];
                    var (w, b) = (Leaf(normalized, gen, 0.5, 2), Leaf(normalized, gen));
                    return CheckVjp(t => t[0].LayerNorm(normalized, t[1], t[2]), [x, w, b], input, gen);
                }

                // BatchNorm2d in training (op 1: batch statistics) or evaluation (op 2: running statistics).
                var (weight, bias) = (Leaf([c["c"]], gen, 0.5, 2), Leaf([c["c"]], gen));
                var mean = Tensor.FromArray(Enumerable.Range(0, c["c"]).Select(_ => gen.NextDouble() - 0.5).ToArray(), [c["c"]]);
                var variance = Tensor.FromArray(Enumerable.Range(0, c["c"]).Select(_ => 0.5 + gen.NextDouble()).ToArray(), [c["c"]]);
                var training = c["op"] == 1;
                return CheckVjp(t => t[0].BatchNorm2d(mean, variance, t[1], t[2], training, momentum: 0), [x, weight, bias], input, gen);
            },
            maxTest: 40);

    [Test]
    public void Losses_VjpsAreDifferentiable() =>
        GradProperty.Check(
            new CaseSpec().Int("n", 1, 3).Int("classes", 1, 4).Int("op", 0, 6).Int("reduction", 0, 2).Int("input", 0, 1),
            c =>
            {
                var gen = c.Generator();
                int[] shape = [c["n"], c["classes"]];
                var reduction = (Reduction)new[] { Reduction.None, Reduction.Mean, Reduction.Sum }[c["reduction"]];
                var x = Leaf(shape, gen, -3, 3);
                var t = Leaf(shape, gen, 0, 1);
                var input = c["input"];
                switch (c["op"])
                {
                    case 0:
                        return CheckVjp(a => a[0].MseLoss(a[1], reduction), [x, t], input, gen);
                    case 1:
                        var (w, p) = (Leaf(shape, gen, 0.5, 2), Leaf([c["classes"]], gen, 0.5, 3));
                        return CheckVjp(a => a[0].BinaryCrossEntropyWithLogits(a[1], a[2], a[3], reduction), [x, t, w, p], input, gen);
                    case 2:
                        var targets = Enumerable.Range(0, c["n"]).Select(_ => gen.NextInt(c["classes"])).ToArray();
                        return CheckVjp(a => a[0].NllLoss(targets, reduction: reduction), [x], 0, gen);
                    case 3:
                        var seed = (ulong)c.Seed;
                        return CheckVjp(a => a[0].Dropout(0.5, generator: new Generator(seed)), [x], 0, gen);
                    case 4:
                        return CheckVjp(a => a[0].Reshape(1, 1, c["n"], c["classes"]).AvgPool2d(2, 1, 1, countIncludePad: false), [x], 0, gen);
                    case 5:
                        return CheckVjp(a => a[0].Reshape(1, c["n"], c["classes"]).AdaptiveAvgPool2d((2, 3)), [x], 0, gen);
                    default:
                        // Odd against even multiples of 0.1: no tie between input and target, where the sign jumps.
                        var (xs, ts) = (x.Storage._data, t.Storage._data);
                        for (var i = 0; i < xs.Length; i++)
                        {
                            (xs[i], ts[i]) = (0.1 * (2 * Math.Round(xs[i] * 5) + 1), 0.2 * Math.Round(ts[i] * 5));
                        }

                        return CheckVjp(a => a[0].L1Loss(a[1], reduction), [x, t], input, gen);
                }
            },
            maxTest: 80);
}
