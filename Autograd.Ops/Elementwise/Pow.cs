using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class PowExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// x^p elementwise. VJP: dx = g·p·x^(p−1), and 0 when p = 0 (PyTorch's pow_backward: the
        /// derivative of the constant 1, even at x = 0).
        /// </summary>
        public Tensor<T> Pow(double exponent, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            var p = T.CreateTruncating(exponent);
            return ElementwiseOp.Unary("Pow", new CallSite(callerFile, callerLine), x, (s, d) => TP.Pow(s, p, d), ElementwiseOp.Saves.Input,
                (g, x, y) => exponent == 0 ? Tensor.ZerosLike(g) : g * x.Pow(exponent - 1) * exponent, Elementwise.Cost.Transcendental);
        }

        /// <summary>
        /// x^exponent elementwise with PyTorch broadcasting (a scalar base: <c>Tensor.Pow(2.0, e)</c>). VJP (PyTorch's pow_backward_self/_exponent):
        /// dx = Σ_broadcast g·b·x^(b−1), 0 where b = 0; db = Σ_broadcast g·y·log x, 0 where x = 0 and b ≥ 0
        /// (the limit of x^b at a zero base).
        /// </summary>
        public Tensor<T> Pow(Tensor<T> exponent, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            ElementwiseOp.Binary<T, PowOp<T>>(
                "Pow",
                new CallSite(callerFile, callerLine),
                x,
                exponent,
                ElementwiseOp.Saves.A | ElementwiseOp.Saves.B,
                static (g, a, b, y) => g * (b * a.Pow(b - 1.0)).MaskedFill(b.Eq(0.0), 0),
                ElementwiseOp.Saves.A | ElementwiseOp.Saves.B | ElementwiseOp.Saves.Output,
                static (g, a, b, y) => g * (y * a.Log()).MaskedFill(a.Eq(0.0).Mul(b.Ge(0.0)), 0));
    }

    extension(Tensor)
    {
        /// <summary>
        /// base^exponent elementwise for a scalar base (PyTorch's torch.pow(2, x)): Pow of a rank-0
        /// tensor. VJP: dexponent = g·y·log(base), 0 where base = 0 and exponent ≥ 0.
        /// </summary>
        public static Tensor<T> Pow<T>(double @base, Tensor<T> exponent, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
            where T : unmanaged, IFloatingPointIeee754<T>
            => ScalarOperatorExtensions.Scalar<T>(@base).Pow(exponent, callerFile, callerLine);
    }

    private readonly struct PowOp<T> : IBinaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static T Invoke(T x, T y) => T.Pow(x, y);

        public static void Row(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d) => TP.Pow(x, y, d);

        public static void Row(ReadOnlySpan<T> x, T y, Span<T> d) => TP.Pow(x, y, d);

        public static void Row(T x, ReadOnlySpan<T> y, Span<T> d) => TP.Pow(x, y, d);
    }
}
