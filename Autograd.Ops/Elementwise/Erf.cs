using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class ErfExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>The error function erf(x) = 2/√π ∫₀ˣ e^(−t²) dt elementwise. VJP: dx = g·2/√π·e^(−x²).</summary>
        public Tensor<T> Erf([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            ElementwiseOp.Unary("Erf", new CallSite(callerFile, callerLine), x, static (s, d) =>
            {
                for (var i = 0; i < d.Length; i++)
                {
                    d[i] = T.CreateTruncating(Special.Erf(double.CreateTruncating(s[i])));
                }
            }, ElementwiseOp.Saves.Input, static (g, x, y) => g * x.Square().Neg().Exp() * (2 / Math.Sqrt(Math.PI)));
    }
}
