using System.Numerics;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class LogExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Natural logarithm elementwise (NaN below 0, −∞ at 0, as PyTorch). VJP: dx = g / x.</summary>
        public Tensor<T> Log()
        {
            ArgumentNullException.ThrowIfNull(x);
            var result = Elementwise.Unary<T, LogKernel<T>>(x);
            if (Tape.ShouldRecord(x))
            {
                Tape.Record("Log", result, [x], (g, grads) => grads[0] = g.Div(x));
            }

            return result;
        }
    }

    private readonly struct LogKernel<T> : IUnaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static void Row(ReadOnlySpan<T> x, Span<T> d) => TP.Log(x, d);
    }
}
