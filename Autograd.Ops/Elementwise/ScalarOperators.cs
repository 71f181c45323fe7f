using System.Numerics;

namespace Autograd;

/// <summary>
/// Arithmetic with <c>double</c> scalars, so that <c>x * 0.5</c> and <c>1.0 - x</c> compile for
/// <c>Tensor&lt;float&gt;</c> as they do in PyTorch (a C# literal <c>0.5</c> is a double, and the
/// <c>T</c>-typed operators of Add, Sub, Mul and Div would need <c>0.5f</c>). The scalar is converted
/// to <c>T</c>; for <c>Tensor&lt;double&gt;</c> these overloads win over the <c>T</c> ones (a
/// non-generic parameter is more specific) and compute the same thing. The recorded ops are
/// Add, Sub, Mul and Div, with their VJPs.
/// </summary>
public static class ScalarOperatorExtensions
{
    extension<T>(Tensor<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static Tensor<T> operator +(Tensor<T> x, double y) => x + T.CreateTruncating(y);

        public static Tensor<T> operator +(double x, Tensor<T> y) => T.CreateTruncating(x) + y;

        public static Tensor<T> operator -(Tensor<T> x, double y) => x - T.CreateTruncating(y);

        public static Tensor<T> operator -(double x, Tensor<T> y) => T.CreateTruncating(x) - y;

        public static Tensor<T> operator *(Tensor<T> x, double y) => x * T.CreateTruncating(y);

        public static Tensor<T> operator *(double x, Tensor<T> y) => T.CreateTruncating(x) * y;

        public static Tensor<T> operator /(Tensor<T> x, double y) => x / T.CreateTruncating(y);

        public static Tensor<T> operator /(double x, Tensor<T> y) => T.CreateTruncating(x) / y;
    }

    /// <summary>A rank-0 tensor of T holding <paramref name="value"/> (rounded for float).</summary>
    internal static Tensor<T> Scalar<T>(double value)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Tensor.Scalar(T.CreateTruncating(value));
}
