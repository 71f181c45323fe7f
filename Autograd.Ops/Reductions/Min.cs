using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class MinExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>The smallest element (a rank-0 tensor).</summary>
        public Tensor<T> Min([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => x.Min(null, false, callerFile, callerLine);

        /// <summary>
        /// The smallest element along one dimension (PyTorch's <c>amax</c>). For the positions too, as
        /// <c>torch.min(x, dim)</c>, use <c>Tensor.Min(x, dim)</c>.
        /// </summary>
        public Tensor<T> Min(int dim, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => x.Min([dim], keepDim, callerFile, callerLine);

        /// <summary>
        /// The smallest element over <paramref name="dims"/> (null or empty: all; NaN wins, as PyTorch).
        /// VJP: each upstream gradient goes to the position of its minimum, ties to the first in
        /// row-major order (as Max): dx = zeros(numel).ScatterAdd(0, argmin, g), a recorded scatter whose
        /// own VJP is a gather.
        /// </summary>
        public Tensor<T> Min(int[]? dims, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            var (reduced, _, outShape) = Reduce.Plan(x.ShapeArray, dims, keepDim, "Min");
            var (values, argMin) = Reduce.Extreme(x, reduced, "Min", min: true);
            var result = new Tensor<T>(values, outShape);
            if (Tape.ShouldRecord(x))
            {
                var xShape = x.ShapeArray;
                var flat = IndexTensor.FromArray(argMin);
                Tape.Record("Min", new CallSite(callerFile, callerLine), result, [x], (g, grads) =>
                    grads[0] = Tensor.Zeros<T>(ShapeMath.Numel(xShape)).ScatterAdd(0, flat, g.Reshape(-1)).Reshape(xShape));
            }

            return result;
        }
    }
}
