using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class GeluExtensions
{
    private static readonly double s_invSqrt2 = 1 / Math.Sqrt(2);
    private static readonly double s_invSqrt2Pi = 1 / Math.Sqrt(2 * Math.PI);
    private static readonly double s_sqrt2OverPi = Math.Sqrt(2 / Math.PI);
    private const double Cubic = 0.044715;

    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// GELU, x·Φ(x) with Φ the standard normal CDF: exactly, Φ(x) = (1 + erf(x/√2))/2
        /// (<paramref name="approximate"/> "none"), or with PyTorch's "tanh" approximation
        /// Φ(x) ≈ (1 + tanh(√(2/π)(x + 0.044715x³)))/2.
        /// VJP: exact dx = g·(Φ(x) + x·φ(x)), φ(x) = e^(−x²/2)/√(2π) (one fused pass, or recorded ops under createGraph);
        /// tanh dx = g·(½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²)), t = tanh(√(2/π)(x + 0.044715x³)).
        /// </summary>
        public Tensor<T> Gelu(string approximate = "none", [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            return approximate switch
            {
                "none" => ElementwiseOp.Unary("Gelu", new CallSite(callerFile, callerLine), x, static (s, d) =>
                {
                    for (var i = 0; i < d.Length; i++)
                    {
                        var v = double.CreateTruncating(s[i]);
                        d[i] = T.CreateTruncating(0.5 * v * (1 + Special.Erf(v * s_invSqrt2)));
                    }
                }, ElementwiseOp.Saves.Input, static (g, x, y) => Tape.ShouldRecord(g, x)
                    ? g * (((x * s_invSqrt2).Erf() + 1.0) * 0.5 + x * (x.Square() * -0.5).Exp() * s_invSqrt2Pi)
                    : Elementwise.Binary<T, ScalarLoop<T, ExactGradient<T>>>(g, x, "Gelu")),
                "tanh" => ElementwiseOp.Unary("Gelu", new CallSite(callerFile, callerLine), x, static (s, d) =>
                {
                    for (var i = 0; i < d.Length; i++)
                    {
                        var v = double.CreateTruncating(s[i]);
                        d[i] = T.CreateTruncating(0.5 * v * (1 + Math.Tanh(s_sqrt2OverPi * (v + Cubic * v * v * v))));
                    }
                }, ElementwiseOp.Saves.Input, static (g, x, y) =>
                {
                    var t = ((x + x.Pow(3.0) * Cubic) * s_sqrt2OverPi).Tanh();
                    return g * ((t + 1.0) * 0.5 + x * 0.5 * (1.0 - t.Square()) * s_sqrt2OverPi * (x.Square() * (3 * Cubic) + 1.0));
                }),
                _ => throw new ArgumentException($"Gelu: approximate must be \"none\" or \"tanh\", got \"{approximate}\" (input shape {ShapeMath.Format(x.ShapeArray)}).", nameof(approximate)),
            };
        }
    }

    /// <summary>The exact GELU's VJP in one pass, g·(Φ(x) + x·φ(x)), for a backward pass that records nothing.</summary>
    private readonly struct ExactGradient<T> : IScalarBinary<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static T Invoke(T g, T x)
        {
            var v = double.CreateTruncating(x);
            return g * T.CreateTruncating(0.5 * (1 + Special.Erf(v * s_invSqrt2)) + v * Math.Exp(-0.5 * v * v) * s_invSqrt2Pi);
        }
    }
}
