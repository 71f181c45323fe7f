using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class DivExtensions
{
    extension<T>(Tensor<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Divides elementwise with PyTorch broadcasting. VJP: da = Σ_broadcast g / b, db = −Σ_broadcast g·y / b (y = a / b).</summary>
        public Tensor<T> Div(Tensor<T> b, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            DivRecorded(a, b, new CallSite(callerFile, callerLine));

        public static Tensor<T> operator /(Tensor<T> x, Tensor<T> y) => DivRecorded(x, y, CallSite.ForOperator("operator /"));

        // With a C# scalar s: d(x / s)/dx = 1 / s; for y = s / x, dy/dx = −s / x² = −y / x.
        public static Tensor<T> operator /(Tensor<T> x, T y) =>
            ElementwiseOp.WithScalar<T, DivideOp<T>>("Div", x, y, scalarFirst: false, ElementwiseOp.Saves.None, static (g, x, s, y) => g / s);

        public static Tensor<T> operator /(T x, Tensor<T> y) =>
            ElementwiseOp.WithScalar<T, DivideOp<T>>("Div", y, x, scalarFirst: true, ElementwiseOp.Saves.Input | ElementwiseOp.Saves.Output, static (g, x, s, y) => g.Mul(y).Div(x).Neg());
    }

    private static Tensor<T> DivRecorded<T>(Tensor<T> a, Tensor<T> b, CallSite site)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ElementwiseOp.Binary<T, DivideOp<T>>("Div", site, a, b, ElementwiseOp.Saves.B, static (g, a, b, y) => g.Div(b), ElementwiseOp.Saves.B | ElementwiseOp.Saves.Output, static (g, a, b, y) => g.Mul(y).Div(b).Neg());
}
