using System.Numerics;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

/// <summary>
/// Two recorded elementwise ops that the normalisation layers and BinaryCrossEntropyWithLogits need
/// inside their forward passes and VJPs: 1/√x and a stable softplus. They are internal building blocks,
/// not part of the public op set; each is a recorded op whose VJP is itself written with recorded ops,
/// so a VJP that uses them stays differentiable.
/// </summary>
internal static class InternalOps
{
    /// <summary>1/√x elementwise. VJP: dx = −½·g·y³.</summary>
    public static Tensor<T> InvSqrt<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
        => ElementwiseOp.Unary<T, InvSqrtKernel<T>>(
            "InvSqrt", x, ElementwiseOp.Saves.Output, static (g, x, y) => g.Mul(y.Mul(y).Mul(y)).Mul(Tensor.Scalar(T.CreateChecked(-0.5))));

    /// <summary>
    /// softplus(x) = log(1 + eˣ), computed as max(x, 0) + log1p(e^−|x|) so that it neither overflows nor
    /// loses the small values. VJP: dx = g·sigmoid(x).
    /// </summary>
    public static Tensor<T> Softplus<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
        => ElementwiseOp.Unary<T, SoftplusKernel<T>>("Softplus", x, ElementwiseOp.Saves.Input, static (g, x, y) => g.Mul(x.Sigmoid()));

    private readonly struct InvSqrtKernel<T> : IUnaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static void Row(ReadOnlySpan<T> x, Span<T> d) => TP.ReciprocalSqrt(x, d);
    }

    private readonly struct SoftplusKernel<T> : IUnaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static void Row(ReadOnlySpan<T> x, Span<T> d)
        {
            for (var i = 0; i < x.Length; i++)
            {
                var v = x[i];
                d[i] = T.Max(v, T.Zero) + T.LogP1(T.Exp(-T.Abs(v)));
            }
        }
    }
}
