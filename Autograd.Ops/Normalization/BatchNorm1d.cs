using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class BatchNorm1dExtensions
{
    extension<T>(Tensor<T> input)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Batch normalisation of input [N, C] or [N, C, L] (PyTorch's batch_norm as <c>nn.BatchNorm1d</c> calls
        /// it): y = (x − μ)/√(σ² + eps)·weight + bias per channel, the statistics over N (and L). The arguments,
        /// the running-statistics update and the VJP are <c>BatchNorm2d</c>'s with the reduction over (N, L)
        /// instead of (N, H, W).
        /// </summary>
        /// <remarks>
        /// VJP, with x̂ = (x − μ)·σ⁻¹ and gx̂ = g·weight: in training dx = σ⁻¹·(gx̂ − mean(gx̂) − x̂·mean(gx̂·x̂))
        /// (means over N, L), in evaluation dx = σ⁻¹·gx̂; dweight = Σ_{N,L} g·x̂, dbias = Σ_{N,L} g.
        /// </remarks>
        public Tensor<T> BatchNorm1d(
            Tensor<T>? runningMean, Tensor<T>? runningVar, Tensor<T>? weight = null, Tensor<T>? bias = null,
            bool training = false, double momentum = 0.1, double eps = 1e-5, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(input);
            if (input.Rank is not (2 or 3))
            {
                throw new ArgumentException($"BatchNorm1d: input must be 2-D [N, C] or 3-D [N, C, L], got rank {input.Rank} (input {ShapeMath.Format(input.ShapeArray)}).", nameof(input));
            }

            return Normalization.BatchNorm(input, "BatchNorm1d", runningMean, runningVar, weight, bias, training, momentum, eps, new CallSite(callerFile, callerLine));
        }
    }
}
