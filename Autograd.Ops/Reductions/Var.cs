using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class VarExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Variance over one dimension.</summary>
        public Tensor<T> Var(int dim, double correction = 1, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => x.Var([dim], correction, keepDim, callerFile, callerLine);

        /// <summary>
        /// Variance over <paramref name="dims"/> (null or empty: all): Σ(x − mean)² / max(0, N − correction),
        /// N the number of elements reduced; correction 1 is Bessel's (PyTorch's default), 0 the population
        /// variance. N ≤ correction divides by 0 (inf or NaN), as PyTorch. A composition of Mean, Sub,
        /// Square, Sum and Div: VJP dx = g·2(x − mean)/(N − correction).
        /// </summary>
        public Tensor<T> Var(int[]? dims = null, double correction = 1, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            // Composed of recorded ops: each names the caller's line, not one in this file.
            using var callSite = CallSite.Enter(callerFile, callerLine);
            ArgumentNullException.ThrowIfNull(x);
            var (_, keep, _) = Reduce.Plan(x.ShapeArray, dims, keepDim, "Var");
            var n = ShapeMath.Numel(keep) == 0 ? 0 : x.Numel / ShapeMath.Numel(keep);
            var centred = x - x.Mean(dims, keepDim: true);
            return centred.Square().Sum(dims, keepDim) / Math.Max(0, n - correction);
        }
    }
}
