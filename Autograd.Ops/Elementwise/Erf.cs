using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Autograd.Kernels;

namespace Autograd;

public static class ErfExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>The error function erf(x) = 2/√π ∫₀ˣ e^(−t²) dt elementwise. VJP: dx = g·2/√π·e^(−x²).</summary>
        public Tensor<T> Erf([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            ElementwiseOp.Unary("Erf", new CallSite(callerFile, callerLine), x, static (s, d) => DoubleLanes.Map<T, ErfFunction>(s, s, d),
                ElementwiseOp.Saves.Input, static (g, x, y) => g * x.Square().Neg().Exp() * (2 / Math.Sqrt(Math.PI)), Elementwise.Cost.Special);
    }

    /// <summary>erf in double (the second operand is ignored).</summary>
    private readonly struct ErfFunction : IDoubleLanes
    {
        public static double Invoke(double x, double unused) => Special.Erf(x);

        public static Vector256<double> Invoke(Vector256<double> x, Vector256<double> unused) => Special.Erf(x);
    }
}
