using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class MulExtensions
{
    extension<T>(Tensor<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Multiplies elementwise with PyTorch broadcasting. VJP: da = Σ_broadcast g·b, db = Σ_broadcast g·a.</summary>
        public Tensor<T> Mul(Tensor<T> b, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            ElementwiseOp.Binary<T, MultiplyOp<T>>("Mul", new CallSite(callerFile, callerLine), a, b, ElementwiseOp.Saves.B, static (g, a, b, y) => g.Mul(b), ElementwiseOp.Saves.A, static (g, a, b, y) => g.Mul(a));

        public static Tensor<T> operator *(Tensor<T> x, Tensor<T> y) => x.Mul(y, callerLine: 0);

        public static Tensor<T> operator *(Tensor<T> x, T y) => x.Mul(Tensor.Scalar(y), callerLine: 0);

        public static Tensor<T> operator *(T x, Tensor<T> y) => Tensor.Scalar(x).Mul(y, callerLine: 0);
    }
}
