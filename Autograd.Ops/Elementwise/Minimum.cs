using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class MinimumExtensions
{
    extension<T>(Tensor<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Elementwise min(a, b) with PyTorch broadcasting (NaN propagates). VJP as PyTorch's
        /// derivatives.yaml: the smaller operand gets g, and at a tie each gets g/2:
        /// da = Σ_broadcast g·([a &lt; b] + ½[a = b]), db = Σ_broadcast g·([b &lt; a] + ½[a = b]).
        /// </summary>
        public Tensor<T> Minimum(Tensor<T> b, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            ElementwiseOp.Binary<T, MinimumOp<T>>(
                "Minimum",
                new CallSite(callerFile, callerLine),
                a,
                b,
                ElementwiseOp.Saves.A | ElementwiseOp.Saves.B,
                static (g, a, b, y) => g * (a.Lt(b) + a.Eq(b) * 0.5),
                ElementwiseOp.Saves.A | ElementwiseOp.Saves.B,
                static (g, a, b, y) => g * (b.Lt(a) + a.Eq(b) * 0.5));
    }

    private readonly struct MinimumOp<T> : IBinaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static T Invoke(T x, T y) => T.Min(x, y);

        public static void Row(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d) => TP.Min(x, y, d);

        public static void Row(ReadOnlySpan<T> x, T y, Span<T> d) => TP.Min(x, y, d);

        public static void Row(T x, ReadOnlySpan<T> y, Span<T> d) => TP.Min(y, x, d);
    }
}
