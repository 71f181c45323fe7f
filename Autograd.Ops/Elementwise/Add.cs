using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class AddExtensions
{
    extension<T>(Tensor<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Adds with PyTorch broadcasting. VJP: da = Σ_broadcast g, db = Σ_broadcast g.</summary>
        public Tensor<T> Add(Tensor<T> b, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            AddRecorded(a, b, new CallSite(callerFile, callerLine));

        public static Tensor<T> operator +(Tensor<T> x, Tensor<T> y) => AddRecorded(x, y, CallSite.ForOperator("operator +"));

        // With a C# scalar s: d(x + s)/dx = d(s + x)/dx = 1 (the scalar stays a value, see ElementwiseOp.WithScalar).
        public static Tensor<T> operator +(Tensor<T> x, T y) =>
            ElementwiseOp.WithScalar<T, AddOp<T>>("Add", x, y, scalarFirst: false, ElementwiseOp.Saves.None, static (g, x, s, y) => g);

        public static Tensor<T> operator +(T x, Tensor<T> y) =>
            ElementwiseOp.WithScalar<T, AddOp<T>>("Add", y, x, scalarFirst: true, ElementwiseOp.Saves.None, static (g, x, s, y) => g);
    }

    private static Tensor<T> AddRecorded<T>(Tensor<T> a, Tensor<T> b, CallSite site)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ElementwiseOp.Binary<T, AddOp<T>>("Add", site, a, b, ElementwiseOp.Saves.None, static (g, a, b, y) => g, ElementwiseOp.Saves.None, static (g, a, b, y) => g);
}
