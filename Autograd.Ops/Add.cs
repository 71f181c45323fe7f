using System.Numerics;
using Autograd.Kernels;

namespace Autograd;

public static class AddExtensions
{
    extension<T>(Tensor<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Adds with PyTorch broadcasting. VJP: da = Σ_broadcast g, db = Σ_broadcast g.</summary>
        public Tensor<T> Add(Tensor<T> b)
        {
            ArgumentNullException.ThrowIfNull(a);
            ArgumentNullException.ThrowIfNull(b);
            var result = Elementwise.Binary<T, AddOp<T>>(a, b, "Add");
            if (Tape.ShouldRecord(a, b))
            {
                var aShape = a._shape;
                var bShape = b._shape;
                Tape.Record("Add", result, [a, b], (g, grads) =>
                {
                    if (a.RequiresGrad)
                    {
                        grads[0] = g.SumToSize(aShape);
                    }

                    if (b.RequiresGrad)
                    {
                        grads[1] = g.SumToSize(bShape);
                    }
                });
            }

            return result;
        }

        public static Tensor<T> operator +(Tensor<T> x, Tensor<T> y) => x.Add(y);

        public static Tensor<T> operator +(Tensor<T> x, T y) => x.Add(Tensor.Scalar(y));

        public static Tensor<T> operator +(T x, Tensor<T> y) => Tensor.Scalar(x).Add(y);
    }
}
