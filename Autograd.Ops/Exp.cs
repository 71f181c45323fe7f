using System.Numerics;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class ExpExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>eˣ elementwise. VJP: dx = g·eˣ (the saved output).</summary>
        public Tensor<T> Exp()
        {
            ArgumentNullException.ThrowIfNull(x);
            var result = Elementwise.Unary<T, ExpKernel<T>>(x);
            if (Tape.ShouldRecord(x))
            {
                Tape.Record("Exp", result, [x], (g, grads) => grads[0] = g.Mul(result));
            }

            return result;
        }
    }

    private readonly struct ExpKernel<T> : IUnaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static void Row(ReadOnlySpan<T> x, Span<T> d) => TP.Exp(x, d);
    }
}
