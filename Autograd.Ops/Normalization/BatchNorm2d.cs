using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class BatchNorm2dExtensions
{
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
            ArgumentNullException.ThrowIfNull(input);
            if (input.Rank != 4)
            {
                throw new ArgumentException($"BatchNorm2d: input must be 4-D [N, C, H, W], got rank {input.Rank} (input {ShapeMath.Format(input.ShapeArray)}).", nameof(input));
            }

            return Normalization.BatchNorm(input, "BatchNorm2d", runningMean, runningVar, weight, bias, training, momentum, eps, new CallSite(callerFile, callerLine));
        }
    }
}
