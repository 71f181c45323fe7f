using System.Numerics;
using System.Runtime.CompilerServices;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class ClampExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// min(max(x, min), max) elementwise; either bound may be null, not both. As PyTorch, a min above
        /// max gives max everywhere and NaN stays NaN. VJP: dx = g where min ≤ x ≤ max, else 0 (the
        /// bounds count as inside, as PyTorch's clamp_backward).
        /// </summary>
        public Tensor<T> Clamp(double? min = null, double? max = null, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            if (min is null && max is null)
            {
                throw new ArgumentException($"Clamp: at least one of min and max must be given (input shape {ShapeMath.Format(x.ShapeArray)}).", nameof(min));
            }

            var lo = T.CreateTruncating(min ?? 0);
            var hi = T.CreateTruncating(max ?? 0);
            return ElementwiseOp.Unary("Clamp", new CallSite(callerFile, callerLine), x, (s, d) =>
            {
                s.CopyTo(d);
                if (min is not null)
                {
                    TP.Max(d, lo, d);
                }

                if (max is not null)
                {
                    TP.Min(d, hi, d);
                }
            }, ElementwiseOp.Saves.Input, (g, x, y) => g.Where(Inside(x, min, max), Tensor.Scalar(T.Zero)));
        }
    }

    private static Tensor<T> Inside<T>(Tensor<T> x, double? min, double? max)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var above = min is { } lo ? x.Ge(lo) : null;
        var below = max is { } hi ? x.Le(hi) : null;
        return above is null ? below! : below is null ? above : above * below;
    }
}
