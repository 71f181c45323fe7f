using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Autograd.Kernels;

namespace Autograd;

public static class GeluExtensions
{
    private static readonly double s_invSqrt2 = 1 / Math.Sqrt(2);
    private static readonly double s_invSqrt2Pi = 1 / Math.Sqrt(2 * Math.PI);
    private static readonly double s_sqrt2OverPi = Math.Sqrt(2 / Math.PI);
    private const double Cubic = 0.044715;

    // The float lanes' constants as literals, so a loop compiled before this class is initialised needs no check.
    private const float InvSqrt2F = 0.707106781186547524f;
    private const float InvSqrt2PiF = 0.398942280401432678f;

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
            var y = approximate switch
            {
                "none" => ElementwiseOp.Unary("Gelu", new CallSite(callerFile, callerLine), x, static (s, d) => FloatLanes.Map<T, Exact>(s, s, d),
                    ElementwiseOp.Saves.Input, static (g, x, y) => Tape.ShouldRecord(g, x)
                    ? g * (((x * s_invSqrt2).Erf() + 1.0) * 0.5 + x * (x.Square() * -0.5).Exp() * s_invSqrt2Pi)
                    : Elementwise.Binary<T, FloatLanes.Binary<T, ExactGradient>>(g, x, "Gelu"), Elementwise.Cost.Rational),
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
                }, Elementwise.Cost.Special),
                _ => throw new ArgumentException($"Gelu: approximate must be \"none\" or \"tanh\", got \"{approximate}\" (input shape {ShapeMath.Format(x.ShapeArray)}).", nameof(approximate)),
            };
            OpTrace.Annotate(y, ("approximate", approximate));
            return y;
        }
    }

    /// <summary>
    /// The exact GELU, x·Φ(x) = ½x·(1 + erf(x/√2)) (the second operand is ignored): in double for double, in float
    /// lanes with the float erf (<see cref="Special.ErfOfNumber(Vector512{float})"/>) for float, as PyTorch's CPU kernel computes it.
    /// A NaN x reaches the result through the factor x, so the float lanes skip erf's NaN check (and the VJP's exponential's).
    /// </summary>
    private readonly struct Exact : IDoubleLanes, IFloatLanes
    {
        public static Vector512<float> Invoke(Vector512<float> x, Vector512<float> unused) =>
            Vector512.Create(0.5f) * x * (Vector512<float>.One + Special.ErfOfNumber(x * InvSqrt2F));

        public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> unused) =>
            Vector256.Create(0.5f) * x * (Vector256<float>.One + Special.ErfOfNumber(x * InvSqrt2F));

        public static double Invoke(double x, double unused) => 0.5 * x * (1 + Special.Erf(x * s_invSqrt2));

        public static Vector256<double> Invoke(Vector256<double> x, Vector256<double> unused) =>
            Vector256.Create(0.5) * x * (Vector256<double>.One + Special.Erf(x * s_invSqrt2));
    }

    /// <summary>The exact GELU's VJP in one pass, g·(Φ(x) + x·φ(x)), for a backward pass that records nothing.</summary>
    private readonly struct ExactGradient : IDoubleLanes, IFloatLanes
    {
        public static Vector512<float> Invoke(Vector512<float> g, Vector512<float> x) =>
            g * (Vector512.Create(0.5f) * (Vector512<float>.One + Special.ErfOfNumber(x * InvSqrt2F))
                + x * FloatExp.ExpNonPositiveOfNumber(Vector512.Create(-0.5f) * x * x) * InvSqrt2PiF);

        public static Vector256<float> Invoke(Vector256<float> g, Vector256<float> x) =>
            g * (Vector256.Create(0.5f) * (Vector256<float>.One + Special.ErfOfNumber(x * InvSqrt2F))
                + x * FloatExp.ExpNonPositiveOfNumber(Vector256.Create(-0.5f) * x * x) * InvSqrt2PiF);

        public static double Invoke(double g, double x) =>
            g * (0.5 * (1 + Special.Erf(x * s_invSqrt2)) + x * Math.Exp(-0.5 * x * x) * s_invSqrt2Pi);

        public static Vector256<double> Invoke(Vector256<double> g, Vector256<double> x) =>
            g * (Vector256.Create(0.5) * (Vector256<double>.One + Special.Erf(x * s_invSqrt2)) + x * Vector256.Exp(Vector256.Create(-0.5) * x * x) * s_invSqrt2Pi);
    }
}
