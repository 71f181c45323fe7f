using System.Numerics;
using Autograd.Kernels;

namespace Autograd;

public static class MulExtensions
{
    extension<T>(Tensor<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Multiplies elementwise with PyTorch broadcasting. VJP: da = Σ_broadcast g·b, db = Σ_broadcast g·a.</summary>
        public Tensor<T> Mul(Tensor<T> b)
        {
            ArgumentNullException.ThrowIfNull(a);
            ArgumentNullException.ThrowIfNull(b);
            var result = Elementwise.Binary<T, MultiplyOp<T>>(a, b, "Mul");
            if (Tape.ShouldRecord(a, b))
            {
                var aShape = a._shape;
                var bShape = b._shape;
                Tape.Record("Mul", result, [a, b], (g, grads) =>
                {
                    if (a.RequiresGrad)
                    {
                        grads[0] = g.Mul(b).SumToSize(aShape);
                    }

                    if (b.RequiresGrad)
                    {
                        grads[1] = g.Mul(a).SumToSize(bShape);
                    }
                });
            }

            return result;
        }

        public static Tensor<T> operator *(Tensor<T> x, Tensor<T> y) => x.Mul(y);

        public static Tensor<T> operator *(Tensor<T> x, T y) => x.Mul(Tensor.Scalar(y));

        public static Tensor<T> operator *(T x, Tensor<T> y) => Tensor.Scalar(x).Mul(y);
    }
}
