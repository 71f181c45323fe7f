using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class BatchNorm2dExtensions
{
    // Statistics are per channel: over batch, height and width.
    private static readonly int[] s_dims = [0, 2, 3];

    extension<T>(Tensor<T> input)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Batch normalisation of input [N, C, H, W] (PyTorch's batch_norm):
        /// y = (x − μ)/√(σ² + eps)·weight + bias per channel. In <paramref name="training"/> μ and σ² are
        /// the batch's mean and biased variance over (N, H, W), and the running statistics (when given) are
        /// updated in place: running = (1 − momentum)·running + momentum·batch, with the unbiased variance
        /// (σ²·m/(m − 1), m = N·H·W) for runningVar. In evaluation μ and σ² are the running statistics,
        /// which are then required. <paramref name="weight"/> and <paramref name="bias"/> ([C]) are optional.
        /// </summary>
        /// <remarks>
        /// VJP, with x̂ = (x − μ)·σ⁻¹ and gx̂ = g·weight: in training dx = σ⁻¹·(gx̂ − mean(gx̂) − x̂·mean(gx̂·x̂))
        /// (means over N, H, W), in evaluation dx = σ⁻¹·gx̂ (an affine map); dweight = Σ_{N,H,W} g·x̂,
        /// dbias = Σ_{N,H,W} g. The running statistics are buffers and get no gradient.
        /// </remarks>
        public Tensor<T> BatchNorm2d(
            Tensor<T>? runningMean, Tensor<T>? runningVar, Tensor<T>? weight = null, Tensor<T>? bias = null,
            bool training = false, double momentum = 0.1, double eps = 1e-5, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            // Composed of recorded ops: each names the caller's line, not one in this file.
            using var callSite = CallSite.Enter(callerFile, callerLine);
            ArgumentNullException.ThrowIfNull(input);
            var shapes = $"(input {ShapeMath.Format(input.ShapeArray)})";
            if (input.Rank != 4)
            {
                throw new ArgumentException($"BatchNorm2d: input must be 4-D [N, C, H, W], got rank {input.Rank} {shapes}.", nameof(input));
            }

            var c = input.ShapeArray[1];
            int[] channels = [c];
            Normalization.CheckShape(runningMean, channels, "BatchNorm2d", nameof(runningMean), shapes);
            Normalization.CheckShape(runningVar, channels, "BatchNorm2d", nameof(runningVar), shapes);
            Normalization.CheckShape(weight, channels, "BatchNorm2d", nameof(weight), shapes);
            Normalization.CheckShape(bias, channels, "BatchNorm2d", nameof(bias), shapes);
            var epsT = Normalization.CheckEps<T>(eps, "BatchNorm2d", shapes);
            if ((runningMean is null) != (runningVar is null))
            {
                throw new ArgumentException($"BatchNorm2d: give both runningMean and runningVar or neither {shapes}.", runningMean is null ? nameof(runningMean) : nameof(runningVar));
            }

            if (!training && runningMean is null)
            {
                throw new ArgumentException($"BatchNorm2d: runningMean and runningVar are required in evaluation mode (training: false) {shapes}.", nameof(runningMean));
            }

            if (runningMean is { RequiresGrad: true } || runningVar is { RequiresGrad: true })
            {
                throw new ArgumentException($"BatchNorm2d: running statistics are buffers updated in place and must not require grad {shapes}.", nameof(runningMean));
            }

            if (!double.IsFinite(momentum))
            {
                throw new ArgumentException($"BatchNorm2d: momentum must be finite, got {momentum} {shapes}.", nameof(momentum));
            }

            var count = input.Numel / Math.Max(c, 1);
            // PyTorch's rule: one value per channel has no variance; an empty batch (or plane) is allowed and
            // gives an empty result, zero gradients for weight and bias, and leaves the running statistics alone.
            if (training && count == 1)
            {
                throw new ArgumentException($"BatchNorm2d: expected more than 1 value per channel when training {shapes}.", nameof(input));
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
                    var s = Normalization.Standardize(input, s_dims, epsT);
                    saved = (s.Mean, s.InvStd);
                    result = s.XHat;
                    recompute = () =>
                    {
                        var r = Normalization.Standardize(input, s_dims, epsT);
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
                    var mean = runningMean!.ContiguousCopy().View(1, c, 1, 1);
                    var invStd = runningVar!.Add(Tensor.Scalar(epsT)).Rsqrt().View(1, c, 1, 1);
                    saved = (mean, invStd);
                    result = input.Sub(mean).Mul(invStd);
                }

                result = weight is null ? result : result.Mul(weight.Reshape(1, c, 1, 1));
                result = bias is null ? result : result.Add(bias.Reshape(1, c, 1, 1));
            }

            if (Tape.ShouldRecord(input, weight, bias))
            {
                var (inputs, wAt, bAt) = OptionalInputs.Of([input], weight, bias);
                var (needX, needW, needB) = (input.RequiresGrad, weight?.RequiresGrad == true, bias?.RequiresGrad == true);
                Tape.Record("BatchNorm2d", new CallSite(callerFile, callerLine), result, inputs, (g, grads) =>
                {
                    var (xHat, invStd) = Normalization.ForBackward(input, saved, recompute);
                    if (needX)
                    {
                        var gXHat = weight is null ? g : g.Mul(weight.Reshape(1, c, 1, 1));
                        grads[0] = training ? Normalization.InputGradient(gXHat, xHat, invStd, s_dims) : gXHat.Mul(invStd);
                    }

                    if (needW)
                    {
                        grads[wAt] = g.Mul(xHat).Sum(s_dims);
                    }

                    if (needB)
                    {
                        grads[bAt] = g.Sum(s_dims);
                    }
                },
                input,
                weight);
            }

            return result;
        }
    }

    /// <summary>
    /// running ← (1 − m)·running + scaledBatch (scaledBatch = m·batch statistic), in place and without a
    /// temporary: the same two roundings as PyTorch's order of operations (a sum is commutative bit for bit).
    /// </summary>
    private static void Update<T>(Tensor<T> running, Tensor<T> scaledBatch, T momentum)
        where T : unmanaged, IFloatingPointIeee754<T>
        => running.MulInPlace(T.One - momentum).AddInPlace(scaledBatch);
}
