using System.Numerics;
using System.Runtime.CompilerServices;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class SqrtExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>√x elementwise (NaN below 0). VJP: dx = g / (2y).</summary>
        public Tensor<T> Sqrt([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            ElementwiseOp.Unary("Sqrt", new CallSite(callerFile, callerLine), x, static (s, d) => TP.Sqrt(s, d), ElementwiseOp.Saves.Output, static (g, x, y) => g / (y * 2.0));
    }
}
