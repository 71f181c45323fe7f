using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class SigmoidExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>1 / (1 + e⁻ˣ) elementwise. VJP: dx = g·y·(1 − y) with y the saved output.</summary>
        public Tensor<T> Sigmoid([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => ElementwiseOp.Unary<T, SigmoidKernel<T>>("Sigmoid", new CallSite(callerFile, callerLine), x, ElementwiseOp.Saves.Output, static (g, x, y) => g.Mul(y).Mul(y.Neg().Add(Tensor.Scalar(T.One))));
    }

    private readonly struct SigmoidKernel<T> : IUnaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static int Cost => Elementwise.Cost.Rational;

        public static void Row(ReadOnlySpan<T> x, Span<T> d) => TP.Sigmoid(x, d);
    }
}
