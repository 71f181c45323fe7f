using System.Numerics;

namespace Autograd.Kernels;

/// <summary>
/// Few input channels (K = Cg·KH·KW ≤ <see cref="ShallowGemm.MaxDepth"/>, LeNet's first layer when its
/// images are too large for <see cref="WideRows{T}"/>): columns packed block by block as on
/// <see cref="PackedColumns{T}"/>, one image at a time, and read where they lie by
/// <see cref="ShallowGemm"/> for Y (which adds the bias) and by Fg·K dot products for dW: such a product
/// does a few multiply-adds per column element, so packing it for <see cref="Gemm"/> would cost as much as
/// the arithmetic. dX is the column path's, image by image.
/// </summary>
internal sealed class ShallowColumns<T>(ConvGeometry geometry) : PackedColumns<T>(geometry)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>One image at a time: the shallow kernel reads each image's blocks where they were packed.</summary>
    public override int Batch => 1;

    public override void Forward(Tensor<T> x, ConvFilters<T> w, T[]? b, Memory<T> y, int n0, int count, T[] scratch)
    {
        for (var n = n0; n < n0 + count; n++)
        {
            ForwardImage(x, null, shallow: true, w, b, y, Geometry, n, scratch);
        }
    }

    public override void WeightGradient(Tensor<T> x, ReadOnlyMemory<T> dy, int dyOffset, Memory<T> dw, int n0, int count, T[] scratch)
    {
        for (var n = n0; n < n0 + count; n++)
        {
            WeightGradientImage(x, null, shallow: true, dy, dyOffset, dw, Geometry, n, scratch);
        }
    }
}
