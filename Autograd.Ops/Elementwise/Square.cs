using System.Numerics;
using System.Runtime.CompilerServices;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class SquareExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>x² elementwise. VJP: dx = 2·g·x.</summary>
        public Tensor<T> Square([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            ElementwiseOp.Unary("Square", new CallSite(callerFile, callerLine), x, static (s, d) => TP.Multiply(s, s, d), ElementwiseOp.Saves.Input, static (g, x, y) => g * x * 2.0);
    }
}
