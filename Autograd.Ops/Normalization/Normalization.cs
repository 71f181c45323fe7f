using System.Numerics;

namespace Autograd;

/// <summary>
/// The standardisation shared by LayerNorm and BatchNorm2d: x̂ = (x − μ)·σ⁻¹ with σ⁻¹ = 1/√(var + eps)
/// over a set of dimensions (biased variance), and the closed-form gradient through it. Both are
/// written with recorded ops, so when a backward pass records (create_graph) the layers' VJPs are
/// differentiable again.
/// </summary>
internal static class Normalization
{
    /// <summary>x̂, μ, the biased variance and σ⁻¹ over <paramref name="dims"/> (statistics keep their dims as size 1).</summary>
    public static (Tensor<T> XHat, Tensor<T> Mean, Tensor<T> Var, Tensor<T> InvStd) Standardize<T>(Tensor<T> x, int[] dims, T eps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var mean = x.Mean(dims, keepDim: true);
        var centered = x.Sub(mean);
        var variance = centered.Mul(centered).Mean(dims, keepDim: true);
        var invStd = variance.Add(Tensor.Scalar(eps)).Rsqrt();
        return (centered.Mul(invStd), mean, variance, invStd);
    }

    /// <summary>
    /// dx for x̂ = Standardize(x) given gx̂ = ∂L/∂x̂, μ and σ depending on x through the same dims:
    /// dx = σ⁻¹·(gx̂ − mean(gx̂) − x̂·mean(gx̂·x̂)) (the standard batch-norm backward; mean over the m
    /// normalised elements: ∂μ/∂x = 1/m, ∂σ⁻¹/∂x = −σ⁻¹·x̂/m).
    /// </summary>
    public static Tensor<T> InputGradient<T>(Tensor<T> gXHat, Tensor<T> xHat, Tensor<T> invStd, int[] dims)
        where T : unmanaged, IFloatingPointIeee754<T>
        => invStd.Mul(gXHat.Sub(gXHat.Mean(dims, keepDim: true)).Sub(xHat.Mul(gXHat.Mul(xHat).Mean(dims, keepDim: true))));

    /// <summary>
    /// x̂ and σ⁻¹ for a VJP, as PyTorch keeps them: only the statistics μ and σ⁻¹ are saved, and
    /// x̂ = (x − μ)·σ⁻¹ is rebuilt from the input (so the forward output may be written in place). When the
    /// backward pass records (create_graph) and the statistics depend on x, they are recomputed from x with
    /// recorded ops by <paramref name="recompute"/>, so that the gradient stays connected to x.
    /// </summary>
    public static (Tensor<T> XHat, Tensor<T> InvStd) ForBackward<T>(
        Tensor<T> x, (Tensor<T> Mean, Tensor<T> InvStd) saved, Func<(Tensor<T> Mean, Tensor<T> InvStd)>? recompute)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (mean, invStd) = Tape.IsGradEnabled && recompute is not null ? recompute() : saved;
        return (x.Sub(mean).Mul(invStd), invStd);
    }

    /// <summary>Throws unless eps is finite and non-negative.</summary>
    public static T CheckEps<T>(double eps, string op, string shapes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(eps >= 0 && double.IsFinite(eps)))
        {
            throw new ArgumentException($"{op}: eps must be finite and non-negative, got {eps} {shapes}.", nameof(eps));
        }

        return T.CreateChecked(eps);
    }

    /// <summary>Throws unless <paramref name="t"/> is null or has exactly <paramref name="shape"/>.</summary>
    public static void CheckShape<T>(Tensor<T>? t, int[] shape, string op, string argument, string shapes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (t is not null && !ShapeMath.SameShape(t.ShapeArray, shape))
        {
            throw new ArgumentException(
                $"{op}: {argument} must have shape {ShapeMath.Format(shape)}, got {ShapeMath.Format(t.ShapeArray)} {shapes}.", argument);
        }
    }
}
