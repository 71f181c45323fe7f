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
            MulRecorded(a, b, new CallSite(callerFile, callerLine));

        public static Tensor<T> operator *(Tensor<T> x, Tensor<T> y) => MulRecorded(x, y, CallSite.ForOperator("operator *"));

        // With a C# scalar s: d(x·s)/dx = d(s·x)/dx = s.
        public static Tensor<T> operator *(Tensor<T> x, T y) =>
            ElementwiseOp.WithScalar<T, MultiplyOp<T>>("Mul", x, y, scalarFirst: false, ElementwiseOp.Saves.None, static (g, x, s, y) => g * s);

        public static Tensor<T> operator *(T x, Tensor<T> y) =>
            ElementwiseOp.WithScalar<T, MultiplyOp<T>>("Mul", y, x, scalarFirst: true, ElementwiseOp.Saves.None, static (g, x, s, y) => g * s);
    }

    private static Tensor<T> MulRecorded<T>(Tensor<T> a, Tensor<T> b, CallSite site)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ElementwiseOp.Binary<T, MultiplyOp<T>>("Mul", site, a, b, ElementwiseOp.Saves.B, static (g, a, b, y) => g.Mul(b), ElementwiseOp.Saves.A, static (g, a, b, y) => g.Mul(a));
}
