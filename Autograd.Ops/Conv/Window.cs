using System.Numerics;

namespace Autograd.Kernels;

/// <summary>
/// Sliding windows as a view (tinygrad's pad-then-stride trick). For a 4-D tensor x of shape
/// [N, C, H, W] the window view has shape [N, C, OH, OW, KH, KW] and
/// <c>view[n, c, oh, ow, kh, kw] = x[n, c, oh·sH + kh·dH, ow·sW + kw·dW]</c>: stride and dilation are
/// nothing but strides of the view, and windows that overlap share storage. Convolution is this
/// view packed into columns and contracted with the weights; its input gradient is the same view
/// used as the destination of a scatter-add.
/// </summary>
internal static class Window
{
    /// <summary>Positions of a window of <paramref name="kernel"/> taps, <paramref name="dilation"/> apart, that fit in <paramref name="size"/>: ⌊(size − d·(k − 1) − 1) / s⌋ + 1 (0 when none fits).</summary>
    public static int OutputSize(int size, int kernel, int stride, int dilation)
    {
        // In long: a huge dilation must give "too small", not a wrapped-around size.
        var span = size - (long)dilation * (kernel - 1) - 1;
        return span < 0 ? 0 : (int)(span / stride + 1);
    }

    /// <summary>
    /// Shape and strides of the window view of a 4-D geometry:
    /// [N, C, OH, OW, KH, KW] with strides [sN, sC, sH·strideH, sW·strideW, sH·dilationH, sW·dilationW].
    /// </summary>
    public static (int[] Shape, int[] Strides) Geometry(
        ReadOnlySpan<int> shape, ReadOnlySpan<int> strides, Size2 kernel, Size2 stride, Size2 dilation)
    {
        if (shape.Length != 4 || strides.Length != 4)
        {
            throw new ArgumentException($"Window: expected a 4-D [N, C, H, W] geometry, got shape {ShapeMath.Format(shape)}.", nameof(shape));
        }

        if (!kernel.IsPositive || !stride.IsPositive || !dilation.IsPositive)
        {
            throw new ArgumentException($"Window: kernel {kernel}, stride {stride} and dilation {dilation} must be positive.", nameof(kernel));
        }

        var oh = OutputSize(shape[2], kernel.H, stride.H, dilation.H);
        var ow = OutputSize(shape[3], kernel.W, stride.W, dilation.W);
        int[] viewShape = [shape[0], shape[1], oh, ow, kernel.H, kernel.W];
        int[] viewStrides =
        [
            strides[0], strides[1],
            strides[2] * stride.H, strides[3] * stride.W,
            strides[2] * dilation.H, strides[3] * dilation.W,
        ];
        return (viewShape, viewStrides);
    }

    /// <summary>
    /// The [N, C, OH, OW, KH, KW] window view of a 4-D tensor (no copy, not recorded on the tape: a
    /// kernel-level view of a buffer the caller owns; <see cref="Tensor{T}.AsStrided"/> with the same
    /// <see cref="Geometry"/> is its differentiable twin).
    /// </summary>
    public static Tensor<T> View<T>(Tensor<T> x, Size2 kernel, Size2 stride, Size2 dilation)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (shape, strides) = Geometry(x.ShapeArray, x.StridesArray, kernel, stride, dilation);
        return x.ViewOf(shape, strides, x.Offset);
    }

    /// <summary>
    /// A contiguous copy of the 4-D tensor <paramref name="x"/> with <paramref name="fill"/> added
    /// around the spatial dimensions (zeros for convolution, −∞ for max-pooling). Not recorded.
    /// </summary>
    public static Tensor<T> Pad<T>(Tensor<T> x, int top, int bottom, int left, int right, T fill)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int[] shape = [x.ShapeArray[0], x.ShapeArray[1], x.ShapeArray[2] + top + bottom, x.ShapeArray[3] + left + right];
        ShapeMath.Numel(shape);
        var padded = fill == T.Zero ? Tensor<T>.ZeroFilled(shape) : Tensor<T>.Uninitialized(shape);
        using var pw = padded.Write();
        if (fill != T.Zero)
        {
            pw.Span.Fill(fill);
        }

        var interior = Interior(padded, top, left, x.ShapeArray[2], x.ShapeArray[3]);
        using var xr = x.Read();
        Strided.Copy(pw.Span, interior.Offset, interior.StridesArray, xr.Span, xr.Offset, xr.Strides, xr.Shape);
        return padded;
    }

    /// <summary>The [N, C, h, w] view of a padded tensor that starts at (top, left): the inverse of <see cref="Pad"/>, used to crop a padded gradient.</summary>
    public static Tensor<T> Interior<T>(Tensor<T> padded, int top, int left, int h, int w)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = padded.StridesArray;
        return padded.ViewOf(
            [padded.ShapeArray[0], padded.ShapeArray[1], h, w],
            (int[])s.Clone(),
            padded.Offset + top * s[2] + left * s[3]);
    }

    /// <summary>
    /// im2col for one image and a run of channels: cols[(c, kh, kw), (oh, ow)] = windows[n, c0 + c, oh, ow, kh, kw],
    /// a [channels·KH·KW, OH·OW] row-major block at <paramref name="colsOffset"/>. It is a permuted
    /// view of the windows copied by <see cref="Strided.Copy{T}"/>; there is no im2col loop.
    /// </summary>
    public static void Pack<T>(Tensor<T> windows, int n, int c0, int channels, T[] cols, int colsOffset)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (shape, strides, offset) = ColumnView(windows, n, c0, channels);
        using var wr = windows.Read();
        Strided.Copy(cols, colsOffset, ShapeMath.ContiguousStrides(shape), wr.Span, offset, strides, shape);
    }

    /// <summary>
    /// The columns of <see cref="Pack{T}"/> as a GEMM operand cols[row, col] = data[offset + row·RowStride + col·ColStride]:
    /// the window view itself when its [C, KH, KW] and [OH, OW] dimensions each collapse to one stride
    /// (a 1×1 kernel at stride 1 over a contiguous input: im2col is then the identity), else packed into
    /// <paramref name="scratch"/> (at least channels·KH·KW·OH·OW long). As for <see cref="TryColumns{T}"/>,
    /// the caller keeps the viewed tensor read while it uses the view's Data.
    /// </summary>
    public static (ReadOnlyMemory<T> Memory, int Offset, int RowStride, int ColStride) Columns<T>(Tensor<T> windows, int n, int c0, int channels, T[] scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (TryColumns(windows, n, c0, channels, out var view))
        {
            return view;
        }

        var (shape, strides, offset) = ColumnView(windows, n, c0, channels);
        using var wr = windows.Read();
        Strided.Copy(scratch, 0, ShapeMath.ContiguousStrides(shape), wr.Span, offset, strides, shape);
        return (scratch, 0, shape[3] * shape[4], 1);
    }

    /// <summary>
    /// The columns of <see cref="Pack{T}"/> as the window view itself, when its [C, KH, KW] and [OH, OW]
    /// dimensions each collapse to one stride (im2col is then the identity); false otherwise. The view's Data
    /// is the storage of the tensor <paramref name="windows"/> views: the caller reads it only inside its
    /// own Read() scope of that tensor (Conv2d's passes hold the input's for the whole pass).
    /// </summary>
    public static bool TryColumns<T>(Tensor<T> windows, int n, int c0, int channels, out (ReadOnlyMemory<T> Memory, int Offset, int RowStride, int ColStride) view)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (shape, strides, offset) = ColumnView(windows, n, c0, channels);
        if (TryCollapse(shape.AsSpan(0, 3), strides.AsSpan(0, 3), out var rowStride)
            && TryCollapse(shape.AsSpan(3), strides.AsSpan(3), out var colStride))
        {
            using var wr = windows.Read();
            view = (wr.Memory, offset, rowStride, colStride);
            return true;
        }

        view = default;
        return false;
    }

    /// <summary>
    /// The single stride that walks <paramref name="shape"/> in row-major order, when there is one:
    /// each dimension's stride is the next one's stride times its size (size-1 dimensions aside).
    /// </summary>
    private static bool TryCollapse(ReadOnlySpan<int> shape, ReadOnlySpan<int> strides, out int stride)
    {
        stride = 1;
        var found = false;
        var expected = 0;
        for (var i = shape.Length - 1; i >= 0; i--)
        {
            if (shape[i] == 1)
            {
                continue;
            }

            if (!found)
            {
                stride = strides[i];
                found = true;
            }
            else if (strides[i] != expected)
            {
                return false;
            }

            expected = strides[i] * shape[i];
        }

        return true;
    }

    /// <summary>
    /// col2im, the adjoint of <see cref="Pack{T}"/>: windows[n, c0 + c, oh, ow, kh, kw] += cols[(c, kh, kw), (oh, ow)].
    /// Where windows overlap, the destination view addresses one element several times and
    /// <see cref="Strided.Accumulate{T}"/> adds every contribution.
    /// </summary>
    public static void ScatterAdd<T>(Tensor<T> windows, int n, int c0, int channels, T[] cols, int colsOffset)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (shape, strides, offset) = ColumnView(windows, n, c0, channels);
        using var ww = windows.Write();
        Strided.Accumulate(ww.Span, offset, strides, cols, colsOffset, ShapeMath.ContiguousStrides(shape), shape);
    }

    /// <summary>windows[n, c0 : c0 + channels] permuted to [C, KH, KW, OH, OW], the column layout.</summary>
    private static (int[] Shape, int[] Strides, int Offset) ColumnView<T>(Tensor<T> windows, int n, int c0, int channels)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var w = windows.ShapeArray;
        var s = windows.StridesArray;
        if (w.Length != 6 || (uint)n >= (uint)w[0] || c0 < 0 || channels < 0 || c0 + channels > w[1])
        {
            throw new ArgumentException(
                $"Window: image {n}, channels {c0}..{c0 + channels} do not fit a window view of shape {ShapeMath.Format(w)}.", nameof(windows));
        }

        return ([channels, w[4], w[5], w[2], w[3]], [s[1], s[4], s[5], s[2], s[3]], windows.Offset + n * s[0] + c0 * s[1]);
    }
}
