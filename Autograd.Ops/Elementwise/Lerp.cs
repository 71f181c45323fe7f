using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class LerpExtensions
{
    extension<T>(Tensor<T> start)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// start + weight·(end − start), elementwise with broadcasting (PyTorch's <c>lerp</c>). Composed of
        /// recorded ops, so differentiable to any order: dstart = g·(1 − w), dend = g·w, dw = g·(end − start).
        /// </summary>
        public Tensor<T> Lerp(Tensor<T> end, Tensor<T> weight, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            Tensor<T>.ThrowIfNullArgument(start, "Lerp", nameof(start));
            Tensor<T>.ThrowIfNullArgument(end, "Lerp", nameof(end));
            Tensor<T>.ThrowIfNullArgument(weight, "Lerp", nameof(weight));
            ShapeMath.Broadcast(ShapeMath.Broadcast(start.ShapeArray, end.ShapeArray, "Lerp"), weight.ShapeArray, "Lerp");
            using var site = CallSite.Enter(callerFile, callerLine);
            return start.Add(weight.Mul(end.Sub(start)));
        }

        /// <summary>start + weight·(end − start) with a scalar weight. dstart = g·(1 − w), dend = g·w.</summary>
        public Tensor<T> Lerp(Tensor<T> end, double weight, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            Tensor<T>.ThrowIfNullArgument(start, "Lerp", nameof(start));
            Tensor<T>.ThrowIfNullArgument(end, "Lerp", nameof(end));
            ShapeMath.Broadcast(start.ShapeArray, end.ShapeArray, "Lerp");
            using var site = CallSite.Enter(callerFile, callerLine);
            return start.Add(end.Sub(start).Mul(ScalarOperatorExtensions.Scalar<T>(weight)));
        }
    }
}
