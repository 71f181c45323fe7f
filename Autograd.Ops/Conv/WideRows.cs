using System.Numerics;

namespace Autograd.Kernels;

/// <summary>
/// Stride-1 convolution of small images on wide rows (<see cref="WideConv"/>): no im2col, each image's
/// group of channels copied once into a zero-padded scratch whose rows are the column matrix's rows.
/// Taken when <see cref="WideConv.Applies{T}"/> (Wp ≤ 2·OW and the scratch within its cap; LeNet's two
/// layers), and for the forward pass alone when <see cref="WideConv.AppliesToForward{T}"/> (c2). A run is a whole
/// chunk of images, so dW's transposed partial is summed over it before it is
/// added.
/// </summary>
internal sealed class WideRows<T>(ConvGeometry geometry, bool forwardOnly = false) : ConvStrategy<T>(geometry)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    // Made for a forward pass alone (WideConv.AppliesToForward): its scratch holds the forward's regions only.
    private readonly bool _forwardOnly = forwardOnly;

    /// <summary>Every image of a chunk in one call.</summary>
    public override int Batch => Geometry.N;

    /// <summary>
    /// The wide-row regions (<see cref="WideConv.ScratchLength{T}"/>), and never less than one block of
    /// columns. Wide rows do not use that block (only a <see cref="DirectColumns{T}"/> pass whose dX runs
    /// here does, and it asks for it itself); it is kept so that every pass rents the lengths it rented
    /// before the paths were chosen in one place.
    /// </summary>
    internal override int ScratchFor(int images)
    {
        var g = Geometry;
        return _forwardOnly ? WideConv.ForwardScratchLength<T>(g) : Math.Max(WideConv.ScratchLength<T>(g), ConvColumns.BlockScratch<T>(g));
    }

    public override void Forward(Tensor<T> x, ConvFilters<T> w, T[]? b, Memory<T> y, int n0, int count, T[] scratch)
    {
        var g = Geometry;
        for (var n = n0; n < n0 + count; n++)
        {
            WideConv.Forward(x, w.Memory.Span, w.Offset, b, y.Span, g, n, scratch);
        }
    }

    public override void InputGradient(ConvFilters<T> w, ReadOnlyMemory<T> dy, int dyOffset, Memory<T> dx, int n0, int count, T[] scratch)
    {
        CheckNotForwardOnly();
        ClearImages(dx, n0, count);
        WideConv.InputGradient(w.Memory.Span, w.Offset, dy.Span, dyOffset, dx.Span, Geometry, n0, count, scratch);
    }

    public override void WeightGradient(Tensor<T> x, ReadOnlyMemory<T> dy, int dyOffset, Memory<T> dw, int n0, int count, T[] scratch)
    {
        CheckNotForwardOnly();
        WideConv.WeightGradient(x, dy.Span, dyOffset, dw.Span, Geometry, n0, count, scratch);
    }

    private void CheckNotForwardOnly()
    {
        if (_forwardOnly)
        {
            throw new InvalidOperationException("WideRows: this strategy was chosen for a forward pass alone; its scratch has no room for the gradients.");
        }
    }
}
