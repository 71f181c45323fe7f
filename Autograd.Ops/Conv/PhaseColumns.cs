using System.Buffers;
using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd.Kernels;

/// <summary>
/// Strided convolutions (c4: 3×3 at stride 2) on packed columns without the strided gather: each image's
/// group is split once into its stride phases (<see cref="PhasePlanes"/>), after which every row of a block
/// of columns is one contiguous copy of the planes at the tap's offset, for an output computed Wq wide.
/// The products are <see cref="PackedColumns{T}"/>'s: Y_g = W_g·cols, dW_g += dY_g·colsᵀ, dcols = W_gᵀ·dY_g,
/// on the widened positions; col2im is one contiguous add per tap row into the phase planes, which are then
/// merged back into dX. One image per run.
/// </summary>
/// <remarks>
/// The extra columns (ow ≥ OW of each widened row) are dropped from Y. dY's are zero, so they add exact
/// zeros to dW and dX while the image's planes and the filters are finite; otherwise they are zeroed in the
/// columns (dW) or in dcols (dX) too, so an infinity read only by an extra column reaches no gradient.
/// </remarks>
internal sealed class PhaseColumns<T>(ConvGeometry geometry) : ConvStrategy<T>(geometry)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly PhasePlanes.Shape _shape = new(geometry);

    // Output positions per block of columns: PackedColumns' budget over the widened plane.
    private readonly int _width = ConvColumns.BlockWidth(geometry with { OW = new PhasePlanes.Shape(geometry).Wq });

    public override int Batch => 1;

    /// <summary>The phase planes, the widened [Fg, OH·Wq] output (or dY) and one block of columns.</summary>
    internal override int ScratchFor(int images)
    {
        var g = Geometry;
        return _shape.Length + g.Fg * _shape.Wide + Gemm.LineElements<T>() + g.K * _width;
    }

    /// <summary>Y_n = W_g · cols_{n,g} on the widened positions for every group, the OW real columns of each row copied out, + b.</summary>
    public override void Forward(Tensor<T> x, ConvFilters<T> w, T[]? b, Memory<T> y, int n0, int count, T[] scratch)
    {
        var g = Geometry;
        var (planes, wide, cols) = Regions(scratch);
        ForEachGroup(n0, count, (n, group, offsets) =>
        {
            PhasePlanes.Split(x, g, n, group, scratch.AsSpan(planes, _shape.Length));
            for (var j0 = 0; j0 < _shape.Wide; j0 += _width)
            {
                var block = Math.Min(_width, _shape.Wide - j0);
                Pack(scratch, planes, offsets, j0, block, cols);
                Gemm.Multiply(w.Packed(group), block, scratch, cols, block, 1, scratch, wide + j0, _shape.Wide, accumulate: false);
            }

            var ys = y.Span;
            for (var f = 0; f < g.Fg; f++)
            {
                var channel = group * g.Fg + f;
                for (var oh = 0; oh < g.OH; oh++)
                {
                    var src = scratch.AsSpan(wide + f * _shape.Wide + oh * _shape.Wq, g.OW);
                    var dst = ys.Slice(((n * g.F + channel) * g.OH + oh) * g.OW, g.OW);
                    if (b is null)
                    {
                        src.CopyTo(dst);
                    }
                    else
                    {
                        TP.Add(src, b[channel], dst);
                    }
                }
            }
        });
    }

    /// <summary>dW_g += dY_{n,g} · cols_{n,g}ᵀ over the widened positions, block by block, extra columns zero on both sides.</summary>
    public override void WeightGradient(Tensor<T> x, ReadOnlyMemory<T> dy, int dyOffset, Memory<T> dw, int n0, int count, T[] scratch)
    {
        var g = Geometry;
        var (planes, wide, cols) = Regions(scratch);
        ForEachGroup(n0, count, (n, group, offsets) =>
        {
            var split = scratch.AsSpan(planes, _shape.Length);
            PhasePlanes.Split(x, g, n, group, split);
            Widen(dy.Span, dyOffset, n, group, scratch.AsSpan(wide, g.Fg * _shape.Wide));

            // dY's extra columns are zero, so finite columns add exact zeros there; only a non-finite
            // input element must be kept from meeting them (0·∞ = NaN).
            var finite = TP.IsFiniteAll<T>(split);
            for (var j0 = 0; j0 < _shape.Wide; j0 += _width)
            {
                var block = Math.Min(_width, _shape.Wide - j0);
                Pack(scratch, planes, offsets, j0, block, cols);
                if (!finite)
                {
                    ClearExtra(scratch.AsSpan(cols, g.K * block), g.K, j0, block);
                }

                Gemm.Multiply(
                    g.Fg, g.K, block,
                    scratch, wide + j0, _shape.Wide, 1,
                    scratch, cols, 1, block,
                    dw, group * g.Fg * g.K, g.K,
                    accumulate: true);
            }
        });
    }

    /// <summary>
    /// dX_n = merge(col2im(W_gᵀ · dY_{n,g})): dcols block by block on the widened positions, extra columns
    /// zeroed, each tap row added into the phase planes at its offset; the planes' real positions then
    /// written into dX (every element of the image).
    /// </summary>
    public override void InputGradient(ConvFilters<T> w, ReadOnlyMemory<T> dy, int dyOffset, Memory<T> dx, int n0, int count, T[] scratch)
    {
        var g = Geometry;
        var (planes, wide, cols) = Regions(scratch);
        ForEachGroup(n0, count, (n, group, offsets) =>
        {
            // dY's extra columns are zero, so finite filters give exact zeros there; non-finite ones are cleared.
            var finite = TP.IsFiniteAll(w.Memory.Span.Slice(w.Offset + group * g.Fg * g.K, g.Fg * g.K));
            var dplanes = scratch.AsSpan(planes, _shape.Length);
            dplanes.Clear();
            Widen(dy.Span, dyOffset, n, group, scratch.AsSpan(wide, g.Fg * _shape.Wide));
            for (var j0 = 0; j0 < _shape.Wide; j0 += _width)
            {
                var block = Math.Min(_width, _shape.Wide - j0);
                Gemm.Multiply(w.Packed(group), block, scratch, wide + j0, _shape.Wide, 1, scratch, cols, block, accumulate: false);
                var dcols = scratch.AsSpan(cols, g.K * block);
                if (!finite)
                {
                    ClearExtra(dcols, g.K, j0, block);
                }

                for (var r = 0; r < g.K; r++)
                {
                    var target = dplanes.Slice(offsets[r] + j0, block);
                    TP.Add(target, dcols.Slice(r * block, block), target);
                }
            }

            PhasePlanes.Merge<T>(dplanes, g, n, group, dx.Span);
        });
    }

    /// <summary>Runs <paramref name="body"/>(n, group, offsets) for every image of the run and group, with the taps' offsets (<see cref="PhasePlanes.Offsets"/>).</summary>
    private void ForEachGroup(int n0, int count, Action<int, int, int[]> body)
    {
        var g = Geometry;
        var offsets = ArrayPool<int>.Shared.Rent(g.K);
        try
        {
            PhasePlanes.Offsets(g, offsets);
            for (var n = n0; n < n0 + count; n++)
            {
                for (var group = 0; group < g.Groups; group++)
                {
                    body(n, group, offsets);
                }
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(offsets);
        }
    }

    /// <summary>
    /// Where the phase planes, the widened rows and the block of columns start in a worker's scratch: the columns on a
    /// cache-line boundary (<see cref="Gemm.LineStart{T}"/>), as Gemm may read their rows in place.
    /// </summary>
    private (int Planes, int Wide, int Cols) Regions(T[] scratch) =>
        (0, _shape.Length, Gemm.LineStart(scratch, _shape.Length + Geometry.Fg * _shape.Wide));

    /// <summary>cols[r, j − j0] = planes[off_r + j] for the widened positions j in [j0, j0 + block): one copy per row.</summary>
    private void Pack(T[] scratch, int planes, int[] offsets, int j0, int block, int cols)
    {
        for (var r = 0; r < Geometry.K; r++)
        {
            scratch.AsSpan(planes + offsets[r] + j0, block).CopyTo(scratch.AsSpan(cols + r * block, block));
        }
    }

    /// <summary>dY[n]_g ([Fg, OH, OW], dense at dyOffset) as rows of OH·Wq with each output row Wq wide, zeros in the extra columns.</summary>
    private void Widen(ReadOnlySpan<T> dy, int dyOffset, int n, int group, Span<T> wide)
    {
        var g = Geometry;
        for (var f = 0; f < g.Fg; f++)
        {
            for (var oh = 0; oh < g.OH; oh++)
            {
                var dst = wide.Slice(f * _shape.Wide + oh * _shape.Wq, _shape.Wq);
                dy.Slice(dyOffset + ((n * g.F + group * g.Fg + f) * g.OH + oh) * g.OW, g.OW).CopyTo(dst);
                dst[g.OW..].Clear();
            }
        }
    }

    /// <summary>Zeros the extra columns (ow ≥ OW of a widened row) among positions [j0, j0 + block) of <paramref name="rows"/> rows of length block.</summary>
    private void ClearExtra(Span<T> block, int rows, int j0, int width)
    {
        var (ow, wq) = (Geometry.OW, _shape.Wq);
        for (var rowStart = j0 / wq * wq; rowStart < j0 + width; rowStart += wq)
        {
            var from = Math.Max(j0, rowStart + ow) - j0;
            var to = Math.Min(j0 + width, rowStart + wq) - j0;
            if (from >= to)
            {
                continue;
            }

            for (var r = 0; r < rows; r++)
            {
                block.Slice(r * width + from, to - from).Clear();
            }
        }
    }
}
