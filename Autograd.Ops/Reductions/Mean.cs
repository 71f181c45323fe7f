using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class MeanExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Mean of all elements (a rank-0 tensor; NaN for an empty tensor, as PyTorch).</summary>
        public Tensor<T> Mean([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => x.Mean(null, false, callerFile, callerLine);

        /// <summary>Mean over one dimension.</summary>
        public Tensor<T> Mean(int dim, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => x.Mean([dim], keepDim, callerFile, callerLine);

        /// <summary>
        /// Mean over <paramref name="dims"/> (null or empty: all). VJP: dx = g / n expanded to x's shape,
        /// n the number of elements averaged.
        /// </summary>
        public Tensor<T> Mean(int[]? dims, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            var (_, keep, outShape) = Reduce.Plan(x.ShapeArray, dims, keepDim, "Mean");
            var count = ShapeMath.Numel(keep) == 0 ? 0 : x.Numel / ShapeMath.Numel(keep);
            var sums = Reduce.Sum(x, keep);
            var scale = T.One / T.CreateChecked(count);
            TP.Multiply(sums, scale, sums);
            var result = new Tensor<T>(sums, outShape);
            if (Tape.ShouldRecord(x))
            {
                var xShape = x.ShapeArray;
                Tape.Record("Mean", new CallSite(callerFile, callerLine), result, [x], (g, grads) => grads[0] = g.Mul(Tensor.Scalar(scale)).Reshape(keep).Expand(xShape));
            }

            return result;
        }
    }
}
