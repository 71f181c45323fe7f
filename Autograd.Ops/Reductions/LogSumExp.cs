using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class LogSumExpExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>log Σ exp(x) over one dimension.</summary>
        public Tensor<T> LogSumExp(int dim, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => x.LogSumExp([dim], keepDim, callerFile, callerLine);

        /// <summary>
        /// log Σ exp(x) over <paramref name="dims"/> (null or empty: all), computed stably as
        /// m + log Σ exp(x − m) with m the maximum held constant (an infinite m is taken as 0, so a row
        /// of −∞ gives −∞). The identity holds for any constant m, so the composition's VJP is exact:
        /// dx = g·exp(x − y) = g·softmax(x).
        /// </summary>
        public Tensor<T> LogSumExp(int[]? dims, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            // Composed of recorded ops: each names the caller's line, not one in this file.
            using var callSite = CallSite.Enter(callerFile, callerLine);
            ArgumentNullException.ThrowIfNull(x);
            var (reduced, keep, outShape) = Reduce.Plan(x.ShapeArray, dims, keepDim, "LogSumExp");
            var m = new T[ShapeMath.Numel(keep)];
            if (x.Numel > 0)
            {
                (m, _) = Reduce.Extreme(x, reduced, "LogSumExp", min: false);
                for (var i = 0; i < m.Length; i++)
                {
                    m[i] = T.IsFinite(m[i]) ? m[i] : T.Zero;
                }
            }

            var shift = new Tensor<T>(m, keep);
            var y = (x - shift).Exp().Sum(dims, keepDim: true).Log() + shift;
            return y.Reshape(outShape);
        }
    }
}
