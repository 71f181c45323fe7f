using System.Numerics;
using System.Runtime.CompilerServices;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class AbsExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>|x| elementwise. VJP: dx = g·sign(x) (0 at x = 0, as PyTorch).</summary>
        public Tensor<T> Abs([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            ElementwiseOp.Unary("Abs", new CallSite(callerFile, callerLine), x, static (s, d) => TP.Abs(s, d), ElementwiseOp.Saves.Input, static (g, x, y) => g * x.Sign());
    }
}
