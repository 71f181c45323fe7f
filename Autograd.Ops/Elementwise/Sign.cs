using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class SignExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// −1, 0 or 1 by the sign of x (0 and −0 stay, NaN stays NaN, as torch.sign). Piecewise constant:
        /// VJP: dx = 0.
        /// </summary>
        public Tensor<T> Sign([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            ElementwiseOp.Unary("Sign", new CallSite(callerFile, callerLine), x, static (s, d) =>
            {
                for (var i = 0; i < d.Length; i++)
                {
                    var v = s[i];
                    d[i] = v > T.Zero ? T.One : v < T.Zero ? T.NegativeOne : v;
                }
            }, ElementwiseOp.Saves.None, static (g, x, y) => Tensor.ZerosLike(g));
    }
}
