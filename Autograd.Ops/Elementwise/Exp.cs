using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class ExpExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>eˣ elementwise. VJP: dx = g·y (the saved output).</summary>
        public Tensor<T> Exp([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => ElementwiseOp.Unary<T, ExpKernel<T>>("Exp", new CallSite(callerFile, callerLine), x, ElementwiseOp.Saves.Output, static (g, x, y) => g.Mul(y));
    }

    private readonly struct ExpKernel<T> : IUnaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static int Cost => Elementwise.Cost.Transcendental;

        public static void Row(ReadOnlySpan<T> x, Span<T> d) => TP.Exp(x, d);
    }
}
