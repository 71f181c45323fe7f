using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd.Kernels;

/// <summary>
/// im2col and col2im for one image, one group of channels and one block of output positions, with the
/// zero padding supplied while packing: no padded copy of the input and no padded gradient buffer.
/// Column row r = (c, kh, kw) and column j = oh·OW + ow hold the window view's element
/// <c>windows[n, c0 + c, oh, ow, kh, kw] = x[n, c0 + c, oh·sH − pT + kh·dH, ow·sW − pL + kw·dW]</c>
/// (<see cref="Window.View{T}"/> of the padded input), zero where that tap falls in the padding.
/// </summary>
/// <remarks>
/// Columns are packed a block of output positions at a time (<see cref="BlockWidth"/>), so a block's
/// K × width columns stay in the private cache between packing and the GEMM that reads them, whatever
/// the image size. When consecutive output positions read consecutive input elements, row after row
/// (stride 1 and OW = W, i.e. "same" padding, over a row-major input), a tap's whole block is one
/// contiguous copy of a shifted stretch of the input plane; the few positions whose tap wrapped round
/// a row end (they fall in the left or right padding) are then zeroed. Every other geometry goes output
/// row by output row: a copy or strided gather of the run of taps inside the input, zeros around it.
/// </remarks>
internal static class ConvColumns
{
    // Elements of one block of columns (K × width): 512 KiB of float, within a core's private L2 with
    // the GEMM's packed panels.
    private const int BlockElements = 128 * 1024;

    /// <summary>
    /// The number of output positions per block: all of them when K × P fits the budget, else equal
    /// blocks rounded up to a multiple of 32 (the GEMM's widest micro-panel) so only the last is ragged.
    /// </summary>
    public static int BlockWidth(ConvGeometry g)
    {
        var p = g.P;
        if ((long)g.K * p <= BlockElements)
        {
            return p;
        }

        var blocks = (int)(((long)g.K * p + BlockElements - 1) / BlockElements);
        var width = (p + blocks - 1) / blocks;
        return Math.Min(p, (width + 31) / 32 * 32);
    }

    /// <summary>
    /// Scratch for one block of columns packed from a cache-line boundary (<see cref="Gemm.LineStart{T}"/>): K ×
    /// <see cref="BlockWidth"/> elements and up to a line's worth before them.
    /// </summary>
    public static int BlockScratch<T>(ConvGeometry g)
        where T : unmanaged
        => g.K * BlockWidth(g) + Gemm.LineElements<T>();

    /// <summary>
    /// How many images' columns go side by side into one product: when an image's positions are few
    /// (2·P ≤ 1024) and K × P fits the block budget, as many images as keep the wide block within both
    /// 1024 positions and the budget; else 1 (one image, block by block).
    /// </summary>
    public static int BatchImages(ConvGeometry g)
    {
        const int wideTarget = 1024;
        var p = g.P;
        if (2 * p > wideTarget || (long)g.K * p * 2 > BlockElements)
        {
            return 1;
        }

        return Math.Max(1, Math.Min(wideTarget / p, (int)(BlockElements / ((long)g.K * p))));
    }

    /// <summary>
    /// cols[(c, kh, kw), j − p0] for output positions j in [p0, p0 + count) and the Cg channels whose
    /// first plane starts at <paramref name="plane0"/> in <paramref name="x"/> (strides sC, sH, sW);
    /// cols is row-major with row length <paramref name="count"/>.
    /// </summary>
    public static void Pack<T>(ReadOnlySpan<T> x, int plane0, int sC, int sH, int sW, in ConvGeometry g, int p0, int count, Span<T> cols)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var packer = new Packer<T>(x, cols, p0, count, g.OW);
        Walk(g, plane0, sC, sH, sW, p0, count, ref packer);
    }

    /// <summary>
    /// col2im, the adjoint of <see cref="Pack{T}"/>: dx[plane0 + c·sC + ih·sH + iw·sW] += dcols[(c, kh, kw), j − p0]
    /// for every tap inside the input; taps in the padding are dropped. Only the group's planes of one
    /// image are written, so images run in parallel. The entries of <paramref name="dcols"/> whose taps
    /// fall in the padding may be zeroed on the way (it is scratch).
    /// </summary>
    public static void ScatterAdd<T>(Span<T> dx, int plane0, int sC, int sH, int sW, in ConvGeometry g, int p0, int count, Span<T> dcols)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var scatter = new Scatter<T>(dx, dcols, p0, count, g.OW);
        Walk(g, plane0, sC, sH, sW, p0, count, ref scatter);
    }

    /// <summary>What <see cref="Walk"/> does with each column row: pack it or scatter it back.</summary>
    private interface ITapRows
    {
        /// <summary>
        /// Row <paramref name="row"/>'s positions j in [from, to) pair with input element origin + j (the
        /// rest of the block is padding); in each output row only columns [start, end) are inside the input.
        /// </summary>
        void Affine(int row, int origin, int from, int to, int start, int end);

        /// <summary>
        /// Output row starting at position rowStart, block columns [a, b): columns [s, e) pair with input
        /// elements at, at + step, …; the others (all when s = e) are padding.
        /// </summary>
        void Run(int row, int rowStart, int a, int b, int s, int e, int at, int step);
    }

    /// <summary>
    /// Walks the column rows (c, kh, kw) of one image's group over the block [p0, p0 + count), pairing
    /// each position with its input element: as one shifted stretch per row when the geometry is affine,
    /// else output row by output row.
    /// </summary>
    private static void Walk<TRows>(in ConvGeometry g, int plane0, int sC, int sH, int sW, int p0, int count, ref TRows rows)
        where TRows : ITapRows, allows ref struct
    {
        var affine = IsAffine(g, sH, sW);
        var row = 0;
        for (var c = 0; c < g.Cg; c++)
        {
            var plane = plane0 + c * sC;

            // One past the plane's last element: no stretch reaches outside the plane.
            var planeEnd = plane + (g.H - 1) * sH + (g.W - 1) * sW + 1;
            for (var kh = 0; kh < g.KH; kh++)
            {
                var dh = kh * g.Dilation.H - g.PadTop;
                for (var kw = 0; kw < g.KW; kw++, row++)
                {
                    var shift = kw * g.Dilation.W - g.PadLeft;
                    var (start, end) = ValidRun(shift, g.Stride.W, g.W, g.OW);
                    if (affine)
                    {
                        var origin = plane + dh * sH + shift;
                        var (from, to) = AffineRange(g, dh, p0, count, plane - origin, planeEnd - origin);
                        rows.Affine(row, origin, from, to, start, end);
                        continue;
                    }

                    for (var oh = p0 / g.OW; oh * g.OW < p0 + count; oh++)
                    {
                        var rowStart = oh * g.OW;
                        var (a, b) = (Math.Max(p0, rowStart) - rowStart, Math.Min(p0 + count, rowStart + g.OW) - rowStart);
                        var ih = oh * g.Stride.H + dh;
                        var (s, e) = (uint)ih < (uint)g.H ? (Math.Clamp(start, a, b), Math.Clamp(end, a, b)) : (a, a);
                        if (s >= e)
                        {
                            (s, e) = (a, a);
                        }

                        rows.Run(row, rowStart, a, b, s, e, plane + ih * sH + (s * g.Stride.W + shift) * sW, g.Stride.W * sW);
                    }
                }
            }
        }
    }

    /// <summary>im2col: copies (or gathers) the taps inside the input and zeroes the ones in the padding.</summary>
    private readonly ref struct Packer<T>(ReadOnlySpan<T> x, Span<T> cols, int p0, int count, int ow) : ITapRows
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly ReadOnlySpan<T> _x = x;
        private readonly Span<T> _cols = cols;

        public void Affine(int row, int origin, int from, int to, int start, int end)
        {
            var dst = _cols.Slice(row * count, count);
            dst[..(from - p0)].Clear();
            if (from < to)
            {
                _x.Slice(origin + from, to - from).CopyTo(dst[(from - p0)..(to - p0)]);
            }

            dst[(to - p0)..].Clear();
            ZeroWrapped(dst, ow, p0, from, to, start, end);
        }

        public void Run(int row, int rowStart, int a, int b, int s, int e, int at, int step)
        {
            var d = _cols.Slice(row * count + rowStart + a - p0, b - a);
            d[..(s - a)].Clear();
            d[(e - a)..].Clear();
            var run = d[(s - a)..(e - a)];
            Gather(_x, at, step, run);
        }
    }

    /// <summary>col2im: adds the taps inside the input into it; the ones in the padding are dropped.</summary>
    private readonly ref struct Scatter<T>(Span<T> dx, Span<T> dcols, int p0, int count, int ow) : ITapRows
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly Span<T> _dx = dx;
        private readonly Span<T> _dcols = dcols;

        public void Affine(int row, int origin, int from, int to, int start, int end)
        {
            // A wrapped tap would land on the neighbouring row's edge, so its entry is zeroed first and
            // the whole stretch is one vector add.
            var src = _dcols.Slice(row * count, count);
            ZeroWrapped(src, ow, p0, from, to, start, end);
            if (from < to)
            {
                var d = _dx.Slice(origin + from, to - from);
                TP.Add(d, src[(from - p0)..(to - p0)], d);
            }
        }

        public void Run(int row, int rowStart, int a, int b, int s, int e, int at, int step)
        {
            if (s == e)
            {
                return;
            }

            var run = _dcols.Slice(row * count + rowStart + s - p0, e - s);
            if (step == 1)
            {
                var d = _dx.Slice(at, run.Length);
                TP.Add(d, run, d);
                return;
            }

            var j = step == 2 ? StrideTwo.ScatterAdd(_dx, at, run) : 0;
            for (at += j * step; j < run.Length; j++, at += step)
            {
                _dx[at] += run[j];
            }
        }
    }

    /// <summary>
    /// run[j] = x[at + j·step]: a copy for step 1, eight at a time for float at step 2 (<see cref="StrideTwo"/>),
    /// else (and for the rest) one by one. Nothing is read for an empty run.
    /// </summary>
    public static void Gather<T>(ReadOnlySpan<T> x, int at, int step, Span<T> run)
        where T : unmanaged
    {
        // An empty run's start may lie outside x (all of its taps were padding).
        if (run.IsEmpty)
        {
            return;
        }

        if (step == 1)
        {
            x.Slice(at, run.Length).CopyTo(run);
            return;
        }

        var j = step == 2 ? StrideTwo.Gather(x, at, run) : 0;
        for (at += j * step; j < run.Length; j++, at += step)
        {
            run[j] = x[at];
        }
    }

    /// <summary>
    /// Stride-2 runs of float (a stride-2 convolution's taps): eight taps at a time from two vectors split
    /// into their even and odd elements (<see cref="Lanes256{T}.Split"/>). Each vector step stays inside the run's
    /// own elements [at, at + 2·(length − 1)], so nothing outside it is read, or written back by the scatter
    /// (a neighbouring row may belong to another thread's image). Both return how many leading elements they
    /// did; the caller finishes the rest a scalar at a time.
    /// </summary>
    private static class StrideTwo
    {
        public static int Gather<T>(ReadOnlySpan<T> x, int at, Span<T> run)
            where T : unmanaged
        {
            if (typeof(T) != typeof(float) || !Vector256.IsHardwareAccelerated)
            {
                return 0;
            }

            var xs = MemoryMarshal.Cast<T, float>(x);
            var ds = MemoryMarshal.Cast<T, float>(run);
            var j = 0;
            for (; j + 8 < run.Length; j += 8)
            {
                // Reads x[at + 2j .. at + 2j + 15], all before the run's last element x[at + 2·(length − 1)].
                var (even, _) = Lanes256<float>.Split(ref MemoryMarshal.GetReference(xs.Slice(at + 2 * j, 16)));
                even.StoreUnsafe(ref MemoryMarshal.GetReference(ds.Slice(j, 8)));
            }

            return j;
        }

        public static int ScatterAdd<T>(Span<T> dx, int at, ReadOnlySpan<T> run)
            where T : unmanaged
        {
            if (typeof(T) != typeof(float) || !Vector256.IsHardwareAccelerated)
            {
                return 0;
            }

            var ds = MemoryMarshal.Cast<T, float>(dx);
            var rs = MemoryMarshal.Cast<T, float>(run);
            var j = 0;
            for (; j + 8 < run.Length; j += 8)
            {
                ref var origin = ref MemoryMarshal.GetReference(ds.Slice(at + 2 * j, 16));
                var (even, odd) = Lanes256<float>.Split(ref origin);
                Lanes256<float>.Interleave(even + Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(rs.Slice(j, 8))), odd, ref origin);
            }

            return j;
        }
    }

    /// <summary>
    /// Whether output position j = oh·OW + ow reads input element origin + j for every tap: unit steps
    /// along a row (stride 1 over unit-stride rows) and one input row per output row (sH·strideH = OW).
    /// </summary>
    private static bool IsAffine(in ConvGeometry g, int sH, int sW) =>
        g.Stride.W == 1 && sW == 1 && (long)g.Stride.H * sH == g.OW;

    /// <summary>
    /// The positions [from, to) of the block [p0, p0 + count) whose tap row is inside the input, clipped
    /// so that origin + j stays in the plane ([lo, hi) relative to origin); positions clipped away are
    /// taps that wrapped round a row end, in the padding.
    /// </summary>
    private static (int From, int To) AffineRange(in ConvGeometry g, int dh, int p0, int count, int lo, int hi)
    {
        var (ohLo, ohHi) = ValidRun(dh, g.Stride.H, g.H, g.OH);
        var from = Math.Clamp(Math.Max((long)ohLo * g.OW, lo), p0, p0 + count);
        var to = Math.Clamp(Math.Min((long)ohHi * g.OW, hi), from, p0 + count);
        return ((int)from, (int)to);
    }

    /// <summary>
    /// Zeroes, within positions [from, to) of a block starting at p0, the output columns ow outside
    /// [start, end): the taps that fall in the left or right padding.
    /// </summary>
    private static void ZeroWrapped<T>(Span<T> block, int ow, int p0, int from, int to, int start, int end)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (start == 0 && end == ow)
        {
            return;
        }

        // One or two elements per row for a small kernel: plain stores, no span slicing per row.
        ref var origin = ref MemoryMarshal.GetReference(block);
        for (var rowStart = from / ow * ow; rowStart < to; rowStart += ow)
        {
            for (int i = Math.Max(rowStart, from), e = Math.Min(rowStart + start, to); i < e; i++)
            {
                Unsafe.Add(ref origin, i - p0) = T.Zero;
            }

            for (int i = Math.Max(rowStart + end, from), e = Math.Min(rowStart + ow, to); i < e; i++)
            {
                Unsafe.Add(ref origin, i - p0) = T.Zero;
            }
        }
    }

    /// <summary>
    /// The outputs [start, end) of <paramref name="outputs"/> whose tap i = o·stride + shift lies in
    /// 0..size − 1 (they form one run).
    /// </summary>
    public static (int Start, int End) ValidRun(int shift, int stride, int size, int outputs)
    {
        var start = shift >= 0 ? 0 : (int)Math.Min(outputs, (-(long)shift + stride - 1) / stride);
        var end = size - 1L - shift < 0 ? 0 : (int)Math.Min(outputs, (size - 1L - shift) / stride + 1);
        return (start, Math.Max(start, end));
    }
}
