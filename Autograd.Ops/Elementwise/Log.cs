using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class LogExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Natural logarithm elementwise (NaN below 0, −∞ at 0, as PyTorch). VJP: dx = g / x.</summary>
        public Tensor<T> Log([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => ElementwiseOp.Unary<T, LogKernel<T>>("Log", new CallSite(callerFile, callerLine), x, ElementwiseOp.Saves.Input, static (g, x, y) => g.Div(x));
    }

    private readonly struct LogKernel<T> : IUnaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static int Cost => Elementwise.Cost.Transcendental;

        public static void Row(ReadOnlySpan<T> x, Span<T> d) => TP.Log(x, d);
    }
}
