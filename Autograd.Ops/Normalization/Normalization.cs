using System.Numerics;

namespace Autograd;

/// <summary>
/// The standardisation shared by LayerNorm, GroupNorm, BatchNorm1d and BatchNorm2d: x̂ = (x − μ)·σ⁻¹ with σ⁻¹ = 1/√(var + eps)
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

    /// <summary>
    /// Batch normalisation over dimension 1 of input [N, C, …] (PyTorch's batch_norm), shared by BatchNorm1d and
    /// BatchNorm2d, which check the rank: see <c>BatchNorm2d</c> for the arguments and the VJP. Composed of recorded
    /// ops under the caller's <paramref name="callSite"/>.
    /// </summary>
    public static Tensor<T> BatchNorm<T>(
        Tensor<T> input, string op, Tensor<T>? runningMean, Tensor<T>? runningVar, Tensor<T>? weight, Tensor<T>? bias,
        bool training, double momentum, double eps, CallSite callSite)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Composed of recorded ops: each names the caller's line, not one in this file.
        using var scope = CallSite.Enter(callSite.FilePath, callSite.Line);
        var shapes = $"(input {ShapeMath.Format(input.ShapeArray)})";
        var c = input.ShapeArray[1];
        // Statistics are per channel: over every dimension but 1 (N, and L or H, W); [1, C, 1, …] broadcasts a channel vector.
        var dims = Enumerable.Range(0, input.Rank).Where(d => d != 1).ToArray();
        var channelShape = Enumerable.Range(0, input.Rank).Select(d => d == 1 ? c : 1).ToArray();
        int[] channels = [c];
        CheckShape(runningMean, channels, op, nameof(runningMean), shapes);
        CheckShape(runningVar, channels, op, nameof(runningVar), shapes);
        CheckShape(weight, channels, op, nameof(weight), shapes);
        CheckShape(bias, channels, op, nameof(bias), shapes);
        var epsT = CheckEps<T>(eps, op, shapes);
        if ((runningMean is null) != (runningVar is null))
        {
            throw new ArgumentException($"{op}: give both runningMean and runningVar or neither {shapes}.", runningMean is null ? nameof(runningMean) : nameof(runningVar));
        }

        if (!training && runningMean is null)
        {
            throw new ArgumentException($"{op}: runningMean and runningVar are required in evaluation mode (training: false) {shapes}.", nameof(runningMean));
        }

        if (runningMean is { RequiresGrad: true } || runningVar is { RequiresGrad: true })
        {
            throw new ArgumentException($"{op}: running statistics are buffers updated in place and must not require grad {shapes}.", nameof(runningMean));
        }

        if (!double.IsFinite(momentum))
        {
            throw new ArgumentException($"{op}: momentum must be finite, got {momentum} {shapes}.", nameof(momentum));
        }

        var count = input.Numel / Math.Max(c, 1);
        // PyTorch's rule: one value per channel has no variance; an empty batch (or plane) is allowed and
        // gives an empty result, zero gradients for weight and bias, and leaves the running statistics alone.
        if (training && count == 1)
        {
            throw new ArgumentException($"{op}: expected more than 1 value per channel when training {shapes}.", nameof(input));
        }

        // μ and σ⁻¹: of the batch (training; recomputed from x when a backward pass records) or
        // constant copies of the running statistics (evaluation; copies, so a later in-place update of
        // the buffers cannot change this backward).
        Func<(Tensor<T> Mean, Tensor<T> InvStd)>? recompute = null;
        (Tensor<T> Mean, Tensor<T> InvStd) saved;
        Tensor<T> result;
        using (Tensor.NoGrad())
        {
            if (training)
            {
                var s = Standardize(input, dims, epsT);
                saved = (s.Mean, s.InvStd);
                result = s.XHat;
                recompute = () =>
                {
                    var r = Standardize(input, dims, epsT);
                    return (r.Mean, r.InvStd);
                };
                if (runningMean is not null && count > 0)
                {
                    var m = T.CreateChecked(momentum);
                    var unbiased = T.CreateChecked(count) / T.CreateChecked(count - 1);
                    Update(runningMean, s.Mean.Reshape(c).Mul(Tensor.Scalar(m)), m);
                    Update(runningVar!, s.Var.Reshape(c).Mul(Tensor.Scalar(m * unbiased)), m);
                }
            }
            else
            {
                var mean = runningMean!.ContiguousCopy().View(channelShape);
                var invStd = runningVar!.Add(Tensor.Scalar(epsT)).Rsqrt().View(channelShape);
                saved = (mean, invStd);
                result = input.Sub(mean).Mul(invStd);
            }

            result = weight is null ? result : result.Mul(weight.Reshape(channelShape));
            result = bias is null ? result : result.Add(bias.Reshape(channelShape));
        }

        if (OpTrace.IsActive)
        {
            OpTrace.Add(op, result, [input, runningMean, runningVar, weight, bias], ("training", training), ("eps", eps));
        }

        if (Tape.ShouldRecord(input, weight, bias))
        {
            var (inputs, wAt, bAt) = OptionalInputs.Of([input], weight, bias);
            var (needX, needW, needB) = (input.RequiresGrad, weight?.RequiresGrad == true, bias?.RequiresGrad == true);
            Tape.Record(op, callSite, result, inputs, (g, grads) =>
            {
                var (xHat, invStd) = ForBackward(input, saved, recompute);
                if (needX)
                {
                    var gXHat = weight is null ? g : g.Mul(weight.Reshape(channelShape));
                    grads[0] = training ? InputGradient(gXHat, xHat, invStd, dims) : gXHat.Mul(invStd);
                }

                if (needW)
                {
                    grads[wAt] = g.Mul(xHat).Sum(dims);
                }

                if (needB)
                {
                    grads[bAt] = g.Sum(dims);
                }
            },
            input,
            weight);
        }

        return result;
    }

    /// <summary>
    /// running ← (1 − m)·running + scaledBatch (scaledBatch = m·batch statistic), in place and without a
    /// temporary: the same two roundings as PyTorch's order of operations (a sum is commutative bit for bit).
    /// </summary>
    private static void Update<T>(Tensor<T> running, Tensor<T> scaledBatch, T momentum)
        where T : unmanaged, IFloatingPointIeee754<T>
        => running.MulInPlace(T.One - momentum).AddInPlace(scaledBatch);

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
