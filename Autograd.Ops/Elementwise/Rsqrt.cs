using System.Numerics;
using System.Runtime.CompilerServices;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class RsqrtExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>1/√x elementwise. VJP: dx = −g·y³ / 2.</summary>
        public Tensor<T> Rsqrt([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            ElementwiseOp.Unary("Rsqrt", new CallSite(callerFile, callerLine), x, static (s, d) => TP.ReciprocalSqrt(s, d), ElementwiseOp.Saves.Output, static (g, x, y) => g * y.Pow(3.0) * -0.5);
    }
}
