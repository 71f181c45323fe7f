using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class MaxExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>The largest element (a rank-0 tensor).</summary>
        public Tensor<T> Max([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => x.Max(null, false, callerFile, callerLine);

        /// <summary>
        /// The largest element along one dimension (PyTorch's <c>amax</c>). For the positions too, as
        /// <c>torch.max(x, dim)</c>, use <c>Tensor.Max(x, dim)</c>.
        /// </summary>
        public Tensor<T> Max(int dim, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => x.Max([dim], keepDim, callerFile, callerLine);

        /// <summary>
        /// The largest element over <paramref name="dims"/> (null or empty: all). VJP: each upstream
        /// gradient goes to the position of its maximum; ties go to the first maximum in row-major
        /// order (the policy of MaxPool2d), so the gradient is a subgradient at a tie.
        /// </summary>
        public Tensor<T> Max(int[]? dims, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            var (reduced, _, outShape) = Reduce.Plan(x.ShapeArray, dims, keepDim, "Max");
            var (values, argMax) = Reduce.Max(x, reduced, "Max");
            var result = new Tensor<T>(values, outShape);
            if (Tape.ShouldRecord(x))
            {
                var xShape = x.ShapeArray;
                // dx[argmax[o]] += g[o], as a recorded scatter (its VJP gathers at the argmax).
                Tape.Record("Max", new CallSite(callerFile, callerLine), result, [x], (g, grads) => grads[0] = IndexRouting.Scatter(g, argMax, xShape, "Max"));
            }

            return result;
        }
    }
}
