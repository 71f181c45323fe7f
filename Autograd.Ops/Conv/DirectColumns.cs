using System.Numerics;

namespace Autograd.Kernels;

/// <summary>
/// An unpadded input whose window view already is the column matrix (a 1×1 kernel at stride 1 over a
/// contiguous input: im2col is the identity; <see cref="Windows"/>): Y and dW multiply the input itself,
/// one image at a time, on the column path's per-image products. dX does not read the input: it runs on
/// the strategy the geometry alone picks (<paramref name="inputGradient"/>), one image at a time.
/// </summary>
internal sealed class DirectColumns<T>(ConvGeometry geometry, Tensor<T> windows, ConvStrategy<T> inputGradient) : ConvStrategy<T>(geometry)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The strategy dX runs on.</summary>
    public ConvStrategy<T> InputGradientStrategy => inputGradient;

    /// <summary>One image at a time: each image's columns are read where they lie.</summary>
    public override int Batch => 1;

    /// <summary>A block of columns (should the view not collapse for some image and group), or dX's scratch if larger.</summary>
    internal override int ScratchFor(int images)
    {
        var g = Geometry;
        return Math.Max(ConvColumns.BlockScratch<T>(g), inputGradient.ScratchFor(images));
    }

    public override void Forward(Tensor<T> x, ConvFilters<T> w, T[]? b, Memory<T> y, int n0, int count, T[] scratch)
    {
        for (var n = n0; n < n0 + count; n++)
        {
            PackedColumns<T>.ForwardImage(x, windows, shallow: false, w, b, y, Geometry, n, scratch);
        }
    }

    public override void InputGradient(ConvFilters<T> w, ReadOnlyMemory<T> dy, int dyOffset, Memory<T> dx, int n0, int count, T[] scratch) =>
        inputGradient.InputGradient(w, dy, dyOffset, dx, n0, count, scratch);

    public override void WeightGradient(Tensor<T> x, ReadOnlyMemory<T> dy, int dyOffset, Memory<T> dw, int n0, int count, T[] scratch)
    {
        for (var n = n0; n < n0 + count; n++)
        {
            PackedColumns<T>.WeightGradientImage(x, windows, shallow: false, dy, dyOffset, dw, Geometry, n, scratch);
        }
    }

    /// <summary>
    /// The window view [N, C, OH, OW, KH, KW] of an unpadded input when its columns are the view itself
    /// (a 1×1 kernel at stride 1 over a contiguous input: im2col is the identity), else null: the
    /// columns are then packed block by block, padding supplied while packing.
    /// </summary>
    public static Tensor<T>? Windows(Tensor<T> x, in ConvGeometry g)
    {
        // An empty batch has no image 0 to probe the column view with (and nothing to read).
        if (g.IsPadded || g.N == 0)
        {
            return null;
        }

        var windows = Window.View(x, new Size2(g.KH, g.KW), g.Stride, g.Dilation);
        if (windows.ShapeArray[2] != g.OH || windows.ShapeArray[3] != g.OW)
        {
            windows = windows.ViewOf([windows.ShapeArray[0], windows.ShapeArray[1], g.OH, g.OW, g.KH, g.KW], windows.StridesArray, windows.Offset);
        }

        return Window.TryColumns(windows, 0, 0, g.C, out _) ? windows : null;
    }
}
