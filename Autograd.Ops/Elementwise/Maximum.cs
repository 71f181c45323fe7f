using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class MaximumExtensions
{
    extension<T>(Tensor<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Elementwise max(a, b) with PyTorch broadcasting (NaN propagates). VJP as PyTorch's
        /// derivatives.yaml: the larger operand gets g, and at a tie each gets g/2:
        /// da = Σ_broadcast g·([a &gt; b] + ½[a = b]), db = Σ_broadcast g·([b &gt; a] + ½[a = b]).
        /// </summary>
        public Tensor<T> Maximum(Tensor<T> b, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            ElementwiseOp.Binary<T, MaximumOp<T>>(
                "Maximum",
                new CallSite(callerFile, callerLine),
                a,
                b,
                ElementwiseOp.Saves.A | ElementwiseOp.Saves.B,
                static (g, a, b, y) => g * (a.Gt(b) + a.Eq(b) * 0.5),
                ElementwiseOp.Saves.A | ElementwiseOp.Saves.B,
                static (g, a, b, y) => g * (b.Gt(a) + a.Eq(b) * 0.5));
    }

    private readonly struct MaximumOp<T> : IBinaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static T Invoke(T x, T y) => T.Max(x, y);

        public static void Row(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d) => TP.Max(x, y, d);

        public static void Row(ReadOnlySpan<T> x, T y, Span<T> d) => TP.Max(x, y, d);

        public static void Row(T x, ReadOnlySpan<T> y, Span<T> d) => TP.Max(y, x, d);
    }
}
