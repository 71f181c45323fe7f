using System.Numerics;
using Autograd.Kernels;

namespace Autograd;

public static class SubExtensions
{
    extension<T>(Tensor<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Subtracts with PyTorch broadcasting. VJP: da = Σ_broadcast g, db = −Σ_broadcast g.</summary>
        public Tensor<T> Sub(Tensor<T> b)
        {
            ArgumentNullException.ThrowIfNull(a);
            ArgumentNullException.ThrowIfNull(b);
            var result = Elementwise.Binary<T, SubtractOp<T>>(a, b, "Sub");
            if (Tape.ShouldRecord(a, b))
            {
                var aShape = a._shape;
                var bShape = b._shape;
                Tape.Record("Sub", result, [a, b], (g, grads) =>
                {
                    if (a.RequiresGrad)
                    {
                        grads[0] = g.SumToSize(aShape);
                    }

                    if (b.RequiresGrad)
                    {
                        grads[1] = g.Neg().SumToSize(bShape);
                    }
                });
            }

            return result;
        }

        public static Tensor<T> operator -(Tensor<T> x, Tensor<T> y) => x.Sub(y);

        public static Tensor<T> operator -(Tensor<T> x, T y) => x.Sub(Tensor.Scalar(y));

        public static Tensor<T> operator -(T x, Tensor<T> y) => Tensor.Scalar(x).Sub(y);
    }
}
