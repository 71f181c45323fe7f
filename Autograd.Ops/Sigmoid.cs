using System.Numerics;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class SigmoidExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>1 / (1 + e⁻ˣ) elementwise. VJP: dx = g·y·(1 − y) with y the saved output.</summary>
        public Tensor<T> Sigmoid()
        {
            ArgumentNullException.ThrowIfNull(x);
            var result = Elementwise.Unary<T, SigmoidKernel<T>>(x);
            if (Tape.ShouldRecord(x))
            {
                Tape.Record("Sigmoid", result, [x], (g, grads) => grads[0] = g.Mul(result).Mul(result.Neg().Add(Tensor.Scalar(T.One))));
            }

            return result;
        }
    }

    private readonly struct SigmoidKernel<T> : IUnaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static void Row(ReadOnlySpan<T> x, Span<T> d) => TP.Sigmoid(x, d);
    }
}
