using System.Numerics;
using Autograd.Kernels;

namespace Autograd;

public static class DivExtensions
{
    extension<T>(Tensor<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Divides elementwise with PyTorch broadcasting. VJP: da = Σ_broadcast g / b, db = −Σ_broadcast g·(a / b) / b.</summary>
        public Tensor<T> Div(Tensor<T> b)
        {
            ArgumentNullException.ThrowIfNull(a);
            ArgumentNullException.ThrowIfNull(b);
            var result = Elementwise.Binary<T, DivideOp<T>>(a, b, "Div");
            if (Tape.ShouldRecord(a, b))
            {
                var aShape = a._shape;
                var bShape = b._shape;
                Tape.Record("Div", result, [a, b], (g, grads) =>
                {
                    if (a.RequiresGrad)
                    {
                        grads[0] = g.Div(b).SumToSize(aShape);
                    }

                    if (b.RequiresGrad)
                    {
                        grads[1] = g.Mul(result).Div(b).Neg().SumToSize(bShape);
                    }
                });
            }

            return result;
        }

        public static Tensor<T> operator /(Tensor<T> x, Tensor<T> y) => x.Div(y);

        public static Tensor<T> operator /(Tensor<T> x, T y) => x.Div(Tensor.Scalar(y));

        public static Tensor<T> operator /(T x, Tensor<T> y) => Tensor.Scalar(x).Div(y);
    }
}
