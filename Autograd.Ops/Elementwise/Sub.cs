using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class SubExtensions
{
    extension<T>(Tensor<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Subtracts with PyTorch broadcasting. VJP: da = Σ_broadcast g, db = −Σ_broadcast g.</summary>
        public Tensor<T> Sub(Tensor<T> b, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            SubRecorded(a, b, new CallSite(callerFile, callerLine));

        public static Tensor<T> operator -(Tensor<T> x, Tensor<T> y) => SubRecorded(x, y, CallSite.ForOperator("operator -"));

        // With a C# scalar s: d(x − s)/dx = 1, d(s − x)/dx = −1.
        public static Tensor<T> operator -(Tensor<T> x, T y) =>
            ElementwiseOp.WithScalar<T, SubtractOp<T>>("Sub", x, y, scalarFirst: false, ElementwiseOp.Saves.None, static (g, x, s, y) => g);

        public static Tensor<T> operator -(T x, Tensor<T> y) =>
            ElementwiseOp.WithScalar<T, SubtractOp<T>>("Sub", y, x, scalarFirst: true, ElementwiseOp.Saves.None, static (g, x, s, y) => g.Neg());
    }

    private static Tensor<T> SubRecorded<T>(Tensor<T> a, Tensor<T> b, CallSite site)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ElementwiseOp.Binary<T, SubtractOp<T>>("Sub", site, a, b, ElementwiseOp.Saves.None, static (g, a, b, y) => g, ElementwiseOp.Saves.None, static (g, a, b, y) => g.Neg());
}
