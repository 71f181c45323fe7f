using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class TanhExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>tanh x elementwise. VJP: dx = g·(1 − y²) with y the saved output.</summary>
        public Tensor<T> Tanh([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => ElementwiseOp.Unary<T, TanhKernel<T>>("Tanh", new CallSite(callerFile, callerLine), x, ElementwiseOp.Saves.Output, static (g, x, y) => g.Mul(y.Mul(y).Neg().Add(Tensor.Scalar(T.One))));
    }

    private readonly struct TanhKernel<T> : IUnaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static int Cost => Elementwise.Cost.Rational;

        public static void Row(ReadOnlySpan<T> x, Span<T> d) => TP.Tanh(x, d);
    }
}
