using System.Runtime.CompilerServices;
using Autograd;

namespace Autograd.Testing;

/// <summary>
/// Second derivatives against finite differences, as PyTorch's gradgradcheck: the VJP of f,
/// h(x, v) = Jf(x)ᵀ·v for the checked inputs x, computed by <see cref="Tensor.Grad{T}(Tensor{T}[], Tensor{T}[], Tensor{T}?[], bool?, bool, bool)"/>
/// with createGraph, is itself a differentiable function of x and of the cotangent v, and
/// <see cref="GradCheck"/> checks it: its gradients come from the double-backward graph, its finite
/// differences from evaluating the first backward pass at perturbed points. A VJP that reads raw
/// values where it should use recorded ops gives zero second derivatives, and fails here.
/// </summary>
/// <remarks>
/// The first-order check runs first: h is built from f's own VJP, so a wrong first-order VJP is a
/// consistent function of x and v, and its second derivatives alone can match finite differences
/// (PyTorch's gradgradcheck passes then, and its docs ask for gradcheck beforehand). Here a failing
/// first order fails the check, its message saying so, and the second order is not run.
/// </remarks>
/// <remarks>
/// The cotangent v is random (from <see cref="GradCheckOptions.Seed"/>, so a failure replays) and is an
/// input of h that requires grad, so d h / d v = J is checked too. h returns the gradients of all
/// checked inputs flattened and concatenated, in input order. An input the output does not depend on
/// contributes zeros.
/// </remarks>
public static class GradGradCheck
{
    /// <summary>
    /// Checks the second derivatives of <paramref name="f"/> at <paramref name="inputs"/> (leaves; those
    /// that require grad are checked). <paramref name="gradOutputs"/> is the cotangent v (f's output
    /// shape), random when null; pass one with RequiresGrad to have it checked as an input, or without
    /// to hold it fixed. The options' tolerances and checks apply to h (their <see cref="GradCheckOptions.Order"/> is ignored).
    /// </summary>
    public static GradCheckResult Check(
        Func<Tensor<double>[], Tensor<double>> f,
        Tensor<double>[] inputs,
        Tensor<double>? gradOutputs = null,
        GradCheckOptions? options = null,
        [CallerArgumentExpression(nameof(f))] string? functionText = null)
        => CheckCore(f, inputs, gradOutputs, (options ?? new GradCheckOptions()) with { Order = 2 }, functionText, []);

    internal static GradCheckResult CheckCore(
        Func<Tensor<double>[], Tensor<double>> f,
        Tensor<double>[] inputs,
        Tensor<double>? gradOutputs,
        GradCheckOptions options,
        string? functionText,
        IReadOnlyList<string> preamble)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(inputs);
        // Without PartialGradients, as for H below: f may itself differentiate with respect to its inputs (a
        // gradient penalty, a backward op's own VJP), which then must require grad inside f.
        var first = GradCheck.CheckCore(f, inputs, options with { Order = 1, Checks = options.Checks & ~VjpChecks.PartialGradients }, functionText, preamble);
        if (!first.Passed)
        {
            return new GradCheckResult(false, first.Worst, first.Failures, first.EntriesChecked,
                "GradGradCheck: the first-order check failed, so the second order was not checked (a wrong VJP is consistent with its own "
                + "derivatives, so gradgradcheck alone cannot see it). " + first.Message)
            {
                NotDifferentiable = first.NotDifferentiable,
                VjpFailures = first.VjpFailures,
                FastMode = first.FastMode,
                Inputs = first.Inputs,
                Options = options,
                FunctionText = functionText,
                Preamble = preamble,
            };
        }

        var checkedInputs = Enumerable.Range(0, inputs.Length).Where(i => inputs[i]?.RequiresGrad == true).ToArray();
        var v = gradOutputs ?? RandomCotangent(f, inputs, options.Seed);
        Tensor<double> H(Tensor<double>[] xs) => Vjp(f, xs[..inputs.Length], checkedInputs, xs[inputs.Length]);

        // PartialGradients would hold an input of f constant in turn, but H differentiates f with respect
        // to its inputs (they must require grad inside H), so that variant is not a function of the others.
        var result = GradCheck.CheckCore(H, [.. inputs, v], options with { Order = 1, Checks = options.Checks & ~VjpChecks.PartialGradients }, functionText, preamble);

        // Reported as the check of f at its own inputs: a reproduction reruns this with the same seed.
        var description = $"second order (gradgradcheck: the VJP x, v ↦ Jᵀv checked as a function; input {inputs.Length} is the cotangent v)";
        return new GradCheckResult(result.Passed, result.Worst, result.Failures, result.EntriesChecked, result.Message.Replace("GradCheck ", $"GradCheck {description} ", StringComparison.Ordinal))
        {
            NotDifferentiable = result.NotDifferentiable,
            VjpFailures = result.VjpFailures,
            FastMode = result.FastMode,
            Inputs = result.Inputs.Take(inputs.Length).ToArray(),
            Options = options,
            FunctionText = functionText,
            Preamble = preamble,
        };
    }

    /// <summary>
    /// h(x, v): the gradients of ⟨v, f(x)⟩ with respect to the checked inputs, flattened and
    /// concatenated. Recorded (createGraph) when grad mode is on, so GradCheck can differentiate it; when
    /// it only evaluates h (grad mode off) the first backward pass is all it needs.
    /// </summary>
    private static Tensor<double> Vjp(Func<Tensor<double>[], Tensor<double>> f, Tensor<double>[] xs, int[] checkedInputs, Tensor<double> v)
    {
        var createGraph = Tape.IsGradEnabled;
        using (Tensor.EnableGrad())
        {
            var y = f(xs);
            var targets = checkedInputs.Select(i => xs[i]).ToArray();
            Tensor<double>?[] grads = y.RequiresGrad && targets.Length > 0
                ? Tensor.Grad([y], targets, [v], createGraph: createGraph, allowUnused: true)
                : new Tensor<double>?[targets.Length];
            var parts = grads.Select((g, k) => g ?? Tensor.Zeros<double>(targets[k].Shape)).ToArray();
            return Concat(parts);
        }
    }

    /// <summary>
    /// The tensors flattened and joined end to end, as a custom op whose backward slices the gradient
    /// with Narrow: recorded ops, so the join is transparent to second derivatives as well.
    /// </summary>
    private static Tensor<double> Concat(Tensor<double>[] parts)
    {
        if (parts.Length == 0)
        {
            return Tensor.Zeros<double>(0);
        }

        return Function.Apply("GradGradCheck.Concat", parts, xs =>
        {
            var data = xs.SelectMany(x => x.ToArray()).ToArray();
            var shapes = xs.Select(x => x.Shape).ToArray();
            return (Tensor.FromArray(data, [data.Length]), (g, grads) =>
            {
                var at = 0;
                for (var i = 0; i < shapes.Length; i++)
                {
                    var n = ShapeMath.Numel(shapes[i]);
                    grads[i] = g.Narrow(0, at, n).Reshape(shapes[i]);
                    at += n;
                }
            });
        }, differentiableBackward: true);
    }

    /// <summary>A cotangent of f's output shape, uniform in [−1, 1), from the options' seed; a leaf that requires grad.</summary>
    private static Tensor<double> RandomCotangent(Func<Tensor<double>[], Tensor<double>> f, Tensor<double>[] inputs, ulong seed)
    {
        int[] shape;
        using (Tensor.NoGrad())
        {
            shape = (f(inputs) ?? throw new ArgumentException("GradGradCheck: f returned null.", nameof(f))).Shape;
        }

        var generator = new Generator(seed ^ 0x9E3779B97F4A7C15UL);
        var data = new double[ShapeMath.Numel(shape)];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = 2 * generator.NextDouble() - 1;
        }

        return Tensor.FromArray(data, shape, requiresGrad: true);
    }
}
