using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class MaskedFillExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// <paramref name="value"/> where <paramref name="mask"/> is non-zero, x elsewhere; the mask must
        /// broadcast to x's shape (PyTorch's masked_fill). A composition: Where(mask, value, x), so
        /// VJP: dx = where(mask, 0, g).
        /// </summary>
        public Tensor<T> MaskedFill(Tensor<T> mask, double value, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            ArgumentNullException.ThrowIfNull(mask);
            var shape = ShapeMath.Broadcast(mask.ShapeArray, x.ShapeArray, "MaskedFill");
            if (!shape.AsSpan().SequenceEqual(x.ShapeArray))
            {
                throw new ArgumentException(
                    $"MaskedFill: mask of shape {ShapeMath.Format(mask.ShapeArray)} does not broadcast to the input's shape {ShapeMath.Format(x.ShapeArray)}.",
                    nameof(mask));
            }

            return ScalarOperatorExtensions.Scalar<T>(value).Where(mask, x, callerFile, callerLine);
        }
    }
}
