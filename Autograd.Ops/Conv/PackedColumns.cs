using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd.Kernels;

/// <summary>
/// im2col + Gemm, the path for every geometry no other strategy takes: each group's columns cols_{n,g}
/// [K, P] are packed a block of output positions at a time straight from the input, zeros supplied for
/// taps in the padding (<see cref="ConvColumns"/>), and multiplied by the group's filters, packed once per
/// call (<see cref="ConvFilters{T}.Packed"/>). Small images run side by side, <see cref="Batch"/> of them
/// in one wide product per group (<see cref="ConvColumns.BatchImages"/>). Its per-image products also
/// serve <see cref="ShallowColumns{T}"/> (with the shallow kernel), <see cref="WinogradStrategy{T}"/>'s dW
/// and <see cref="DirectColumns{T}"/>'s forward and dW (on the window view).
/// </summary>
internal class PackedColumns<T>(ConvGeometry geometry) : ConvStrategy<T>(geometry)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    // Few filters: dX's product W_gᵀ · dY is shallow (depth Fg), and runs image by image.
    private readonly bool _shallowInputGradient = ShallowGemm.Applies<T>(geometry.Fg);

    /// <summary>The images whose columns go side by side into one product (1 when P is large).</summary>
    public override int Batch => ConvColumns.BatchImages(Geometry);

    /// <summary>One block of columns, or for a run of images two wide [K, m·P] buffers and a wide [Fg, m·P] one.</summary>
    internal override int ScratchFor(int images)
    {
        var g = Geometry;
        return images > 1 ? (2 * g.K + g.Fg) * images * g.P : ConvColumns.BlockScratch<T>(g);
    }

    /// <summary>
    /// Y for images [n0, n0 + count): one image at a time, or (count &gt; 1, small P) one product per group
    /// W_g · [cols_{n0,g} … cols_{n0+count−1,g}] into scratch, each image's [Fg, P] slice copied into Y, then + b.
    /// </summary>
    public override void Forward(Tensor<T> x, ConvFilters<T> w, T[]? b, Memory<T> y, int n0, int count, T[] scratch)
    {
        var g = Geometry;
        if (count == 1)
        {
            ForwardImage(x, null, shallow: false, w, b, y, g, n0, scratch);
            return;
        }

        var (fg, k, p) = (g.Fg, g.K, g.P);
        var wide = count * p;
        var colsAt = k * wide;
        var outAt = 2 * k * wide;
        for (var group = 0; group < g.Groups; group++)
        {
            PackWide(x, g, n0, count, group, scratch.AsSpan(0, k * p), scratch.AsSpan(colsAt, k * wide));
            Gemm.Multiply(
                w.Packed(group), wide,
                scratch, colsAt, wide, 1,
                scratch, outAt, wide,
                accumulate: false);
            var ys = y.Span;
            for (var i = 0; i < count; i++)
            {
                for (var f = 0; f < fg; f++)
                {
                    scratch.AsSpan(outAt + f * wide + i * p, p).CopyTo(ys.Slice(((n0 + i) * g.F + group * fg + f) * p, p));
                }
            }
        }

        if (b is not null)
        {
            AddBias(y.Span, n0 * g.F * p, b, count, g.F, p);
        }
    }

    /// <summary>
    /// dW += the images [n0, n0 + count): one at a time, or (count &gt; 1) one product per group
    /// [dY_{n0,g} … ] · [cols_{n0,g} … ]ᵀ ([Fg, count·P] · [count·P, K]) accumulated into <paramref name="dw"/>.
    /// </summary>
    public override void WeightGradient(Tensor<T> x, ReadOnlyMemory<T> dy, int dyOffset, Memory<T> dw, int n0, int count, T[] scratch)
    {
        var g = Geometry;
        if (count == 1)
        {
            WeightGradientImage(x, null, shallow: false, dy, dyOffset, dw, g, n0, scratch);
            return;
        }

        var (fg, k, p) = (g.Fg, g.K, g.P);
        var wide = count * p;
        var colsAt = k * wide;
        var dyAt = 2 * k * wide;
        for (var group = 0; group < g.Groups; group++)
        {
            PackWide(x, g, n0, count, group, scratch.AsSpan(0, k * p), scratch.AsSpan(colsAt, k * wide));
            GatherWide(dy.Span, dyOffset, g, n0, count, group, scratch.AsSpan(dyAt, fg * wide));
            Gemm.Multiply(
                fg, k, wide,
                scratch, dyAt, wide, 1,
                scratch, colsAt, 1, wide,
                dw, group * fg * k, k,
                accumulate: true);
        }
    }

    /// <summary>
    /// dX of the images [n0, n0 + count): one at a time, or (count &gt; 1, the Gemm path: Fg above the
    /// shallow kernel's depth) one product per group dcols = W_gᵀ · [dY_{n0,g} … ] ([K, count·P]), each
    /// image's [K, P] slice then scatter-added through the windows.
    /// </summary>
    public override void InputGradient(ConvFilters<T> w, ReadOnlyMemory<T> dy, int dyOffset, Memory<T> dx, int n0, int count, T[] scratch)
    {
        var g = Geometry;
        ClearImages(dx, n0, count);
        if (count == 1 || _shallowInputGradient)
        {
            for (var n = n0; n < n0 + count; n++)
            {
                InputGradientImage(w, dy, dyOffset, dx, g, n, scratch, _shallowInputGradient);
            }

            return;
        }

        var (fg, k, p) = (g.Fg, g.K, g.P);
        var wide = count * p;
        var plane = g.H * g.W;
        var dcolsAt = k * wide;
        var dyAt = 2 * k * wide;
        for (var group = 0; group < g.Groups; group++)
        {
            GatherWide(dy.Span, dyOffset, g, n0, count, group, scratch.AsSpan(dyAt, fg * wide));
            Gemm.Multiply(
                w.Packed(group), wide,
                scratch, dyAt, wide, 1,
                scratch, dcolsAt, wide,
                accumulate: false);
            var slice = scratch.AsSpan(0, k * p);
            for (var i = 0; i < count; i++)
            {
                for (var r = 0; r < k; r++)
                {
                    scratch.AsSpan(dcolsAt + r * wide + i * p, p).CopyTo(slice.Slice(r * p, p));
                }

                ConvColumns.ScatterAdd<T>(dx.Span, ((n0 + i) * g.C + group * g.Cg) * plane, plane, g.W, 1, g, 0, p, slice);
            }
        }
    }

    /// <summary>
    /// Y_n = W_g · cols_{n,g} for every group, block by block of output positions, then + b; the columns
    /// read from <paramref name="windows"/> when they are the window view itself (<see cref="DirectColumns{T}"/>),
    /// else packed into <paramref name="cols"/>, and multiplied by the shallow kernel when <paramref name="shallow"/>
    /// (<see cref="ShallowColumns{T}"/>).
    /// </summary>
    internal static void ForwardImage(Tensor<T> x, Tensor<T>? windows, bool shallow, ConvFilters<T> w, T[]? b, Memory<T> y, in ConvGeometry g, int n, T[] cols)
    {
        var (fg, k, p) = (g.Fg, g.K, g.P);
        var width = ConvColumns.BlockWidth(g);
        for (var group = 0; group < g.Groups; group++)
        {
            for (var p0 = 0; p0 < p; p0 += width)
            {
                var count = Math.Min(width, p - p0);
                var (c, cAt, cRow, cCol) = Columns(x, windows, g, n, group, p0, count, cols);
                var yAt = (n * g.F + group * fg) * p + p0;
                if (shallow)
                {
                    // Few input channels (K ≤ 32): the shallow kernel reads the packed columns where they lie and adds the bias.
                    ShallowGemm.Multiply<T>(
                        fg, count, k,
                        w.Memory.Span[(w.Offset + group * fg * k)..], k, 1,
                        cols.AsSpan(cAt), count,
                        y.Span[yAt..], p,
                        b is null ? default : b.AsSpan(group * fg, fg));
                    continue;
                }

                Gemm.Multiply(
                    w.Packed(group), count,
                    c, cAt, cRow, cCol,
                    y, yAt, p,
                    accumulate: false);
            }
        }

        if (b is not null && !shallow)
        {
            // Added while the image's planes are still in cache.
            AddBias(y.Span, n * g.F * p, b, 1, g.F, p);
        }
    }

    /// <summary>
    /// dW_g += Σ_blocks dY_{n,g}[:, block] · cols_{n,g}[:, block]ᵀ: [Fg, count] · [count, K], colsᵀ read
    /// with swapped strides, into <paramref name="dw"/> ([F, K] row-major); the columns as in
    /// <see cref="ForwardImage"/>, and Fg·K dot products per block when <paramref name="shallow"/>.
    /// </summary>
    internal static void WeightGradientImage(Tensor<T> x, Tensor<T>? windows, bool shallow, ReadOnlyMemory<T> dy, int dyOffset, Memory<T> dw, in ConvGeometry g, int n, T[] cols)
    {
        var (fg, k, p) = (g.Fg, g.K, g.P);
        var width = ConvColumns.BlockWidth(g);
        for (var group = 0; group < g.Groups; group++)
        {
            for (var p0 = 0; p0 < p; p0 += width)
            {
                var count = Math.Min(width, p - p0);
                var (c, cAt, cRow, cCol) = Columns(x, windows, g, n, group, p0, count, cols);
                if (shallow)
                {
                    // Few columns rows (K ≤ 32): Fg·K dot products over the block; Gemm would pack colsᵀ
                    // a scalar at a time for so few lines.
                    var dyRows = dy.Span;
                    var target = dw.Span;
                    for (var f = 0; f < fg; f++)
                    {
                        var dyRow = dyRows.Slice(dyOffset + (n * g.F + group * fg + f) * p + p0, count);
                        for (var r = 0; r < k; r++)
                        {
                            target[(group * fg + f) * k + r] += TP.Dot<T>(dyRow, cols.AsSpan(cAt + r * count, count));
                        }
                    }

                    continue;
                }

                Gemm.Multiply(
                    fg, k, count,
                    dy, dyOffset + (n * g.F + group * fg) * p + p0, p, 1,
                    c, cAt, cCol, cRow,
                    dw, group * fg * k, k,
                    accumulate: true);
            }
        }
    }

    /// <summary>
    /// dX_n += col2im(W_gᵀ · dY_{n,g}) for every group, block by block: dcols = W_gᵀ · dY_{n,g}[:, block]
    /// ([K, Fg] · [Fg, count], W_gᵀ read with swapped strides), scatter-added through the windows into the
    /// dense [N, C, H, W] <paramref name="dx"/>, taps in the padding dropped. With few filters
    /// (<paramref name="shallow"/>) the product is the shallow kernel's.
    /// </summary>
    internal static void InputGradientImage(ConvFilters<T> w, ReadOnlyMemory<T> dy, int dyOffset, Memory<T> dx, in ConvGeometry g, int n, T[] dcols, bool shallow)
    {
        var (fg, k, p) = (g.Fg, g.K, g.P);
        var width = ConvColumns.BlockWidth(g);
        var plane = g.H * g.W;
        for (var group = 0; group < g.Groups; group++)
        {
            for (var p0 = 0; p0 < p; p0 += width)
            {
                var count = Math.Min(width, p - p0);
                var dyAt = dyOffset + (n * g.F + group * fg) * p + p0;
                if (shallow)
                {
                    // Few filters: a shallow product, B (dY's rows) read where it lies.
                    ShallowGemm.Multiply<T>(k, count, fg, w.Memory.Span[(w.Offset + group * fg * k)..], 1, k, dy.Span[dyAt..], p, dcols, count, default);
                }
                else
                {
                    Gemm.Multiply(
                        w.Packed(group), count,
                        dy, dyAt, p, 1,
                        dcols, 0, count,
                        accumulate: false);
                }

                ConvColumns.ScatterAdd<T>(dx.Span, (n * g.C + group * g.Cg) * plane, plane, g.W, 1, g, p0, count, dcols);
            }
        }
    }

    /// <summary>
    /// cols_{n,g} for output positions [p0, p0 + count), packed row-major with row length
    /// <paramref name="count"/> into <paramref name="cols"/> (any input strides).
    /// </summary>
    private static void Pack(Tensor<T> x, in ConvGeometry g, int n, int group, int p0, int count, Span<T> cols)
    {
        using var xr = x.Read();
        var s = xr.Strides;
        ConvColumns.Pack<T>(xr.Span, xr.Offset + n * s[0] + group * g.Cg * s[1], s[1], s[2], s[3], g, p0, count, cols);
    }

    /// <summary>
    /// The columns of image n, group <paramref name="group"/>, output positions [p0, p0 + count) as a
    /// GEMM operand cols[row, j] = data[offset + row·RowStride + j·ColStride]: the window view itself
    /// (<see cref="DirectColumns{T}.Windows"/>), else packed into <paramref name="scratch"/>.
    /// </summary>
    private static (ReadOnlyMemory<T> Memory, int Offset, int RowStride, int ColStride) Columns(
        Tensor<T> x, Tensor<T>? windows, in ConvGeometry g, int n, int group, int p0, int count, T[] scratch)
    {
        if (windows is not null && Window.TryColumns(windows, n, group * g.Cg, g.Cg, out var view))
        {
            return (view.Memory, view.Offset + p0 * view.ColStride, view.RowStride, view.ColStride);
        }

        var at = Gemm.LineStart(scratch);
        Pack(x, g, n, group, p0, count, scratch.AsSpan(at));
        return (scratch, at, count, 1);
    }

    /// <summary>
    /// cols of images [n0, n0 + count), group <paramref name="group"/>, side by side as a row-major
    /// [K, count·P] at wide[0..]: each image packed into <paramref name="packed"/> then copied row by row.
    /// </summary>
    private static void PackWide(Tensor<T> x, in ConvGeometry g, int n0, int count, int group, Span<T> packed, Span<T> wide)
    {
        var (k, p) = (g.K, g.P);
        var stride = count * p;
        for (var i = 0; i < count; i++)
        {
            Pack(x, g, n0 + i, group, 0, p, packed);
            for (var r = 0; r < k; r++)
            {
                packed.Slice(r * p, p).CopyTo(wide.Slice(r * stride + i * p, p));
            }
        }
    }

    /// <summary>dY of images [n0, n0 + count), group <paramref name="group"/>, gathered as a row-major [Fg, count·P].</summary>
    private static void GatherWide(ReadOnlySpan<T> dy, int dyOffset, in ConvGeometry g, int n0, int count, int group, Span<T> wide)
    {
        var (fg, p) = (g.Fg, g.P);
        var stride = count * p;
        for (var i = 0; i < count; i++)
        {
            for (var f = 0; f < fg; f++)
            {
                dy.Slice(dyOffset + ((n0 + i) * g.F + group * fg + f) * p, p).CopyTo(wide.Slice(f * stride + i * p, p));
            }
        }
    }
}
