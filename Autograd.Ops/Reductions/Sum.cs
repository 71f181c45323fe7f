using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class SumExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Σ of all elements (a rank-0 tensor).</summary>
        public Tensor<T> Sum([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => x.Sum(null, false, callerFile, callerLine);

        /// <summary>Σ over one dimension.</summary>
        public Tensor<T> Sum(int dim, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => x.Sum([dim], keepDim, callerFile, callerLine);

        /// <summary>
        /// Σ over <paramref name="dims"/> (null or empty: all), keeping them as size 1 when
        /// <paramref name="keepDim"/>. VJP: dx = g reshaped to the keepDim shape, expanded to x's shape.
        /// </summary>
        public Tensor<T> Sum(int[]? dims, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            var (_, keep, outShape) = Reduce.Plan(x.ShapeArray, dims, keepDim, "Sum");
            var result = new Tensor<T>(Reduce.Sum(x, keep), outShape);
            if (Tape.ShouldRecord(x))
            {
                var xShape = x.ShapeArray;
                Tape.Record("Sum", new CallSite(callerFile, callerLine), result, [x], (g, grads) => grads[0] = g.Reshape(keep).Expand(xShape));
            }

            return result;
        }
    }
}
