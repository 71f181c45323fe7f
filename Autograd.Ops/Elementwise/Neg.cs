using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class NegExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>−x. VJP: dx = −g.</summary>
        public Tensor<T> Neg([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => Negate(x, new CallSite(callerFile, callerLine));

        public static Tensor<T> operator -(Tensor<T> t) => Negate(t, CallSite.ForOperator("unary operator -"));
    }

    private static Tensor<T> Negate<T>(Tensor<T> x, CallSite site)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ElementwiseOp.Unary<T, NegKernel<T>>("Neg", site, x, ElementwiseOp.Saves.None, static (g, x, y) => g.Neg());

    private readonly struct NegKernel<T> : IUnaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static void Row(ReadOnlySpan<T> x, Span<T> d) => TP.Negate(x, d);
    }
}
