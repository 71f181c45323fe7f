using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Autograd.Kernels;

/// <summary>
/// Windowed max with argmax (its adjoint is the scatter of <see cref="Route"/>). Reads the [N, C, OH, OW, KH, KW] window view of the
/// input padded with −∞ (<see cref="Window"/>) without building the padded copy: a padded tap can
/// never beat a real one, so taps outside the input are simply skipped. That is also PyTorch's loop,
/// which makes the result identical to it, NaN propagation and all-−∞ windows included.
/// </summary>
internal static class MaxPoolKernel
{
    /// <summary>
    /// y[n, c, oh, ow] = max over the taps (oh·sH − pT + kh·dH, ow·sW − pL + kw·dW) that fall inside the
    /// input and, when <paramref name="argmax"/> is not empty, argmax[n, c, oh, ow] = the winning tap's
    /// number kh·KW + kw in its window. The tap number is what makes the index compact: a byte per output
    /// when the window has fewer than 255 taps (a quarter of an int's memory traffic), an int otherwise.
    /// Ties go to the first maximum in row-major window order; a NaN wins (and a later NaN wins over it),
    /// as in PyTorch. A window with no tap inside the input gives −∞ and argmax <paramref name="noTap"/>
    /// (255 for byte indices, −1 for int). Input element [n, c, h, w] is
    /// x[xOffset + n·xStrides[0] + c·xStrides[1] + h·xStrides[2] + w·xStrides[3]], so any view works.
    /// Planes are independent, so they are spread over <paramref name="workers"/> threads without changing a bit.
    /// </summary>
    public static void MaxForward<T, TIndex>(
        ReadOnlyMemory<T> x, int xOffset, int[] xStrides, int n, int c, int h, int w,
        Size2 kernel, Size2 stride, Size2 padding, Size2 dilation, int oh, int ow,
        Memory<T> y, Memory<TIndex> argmax, int noTap, int workers)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        var (sN, sC, sH, sW) = (xStrides[0], xStrides[1], xStrides[2], xStrides[3]);
        var record = !argmax.IsEmpty;

        // The row-vector path keeps the tap number in a lane of T, exact only for byte-sized tap counts.
        var vector = Simd.Width<T>() != VectorWidth.None && typeof(TIndex) == typeof(byte);
        var g = new RowGeometry(w, kernel.W, stride.W, padding.W, dilation.W, ow, vector ? Vector256<T>.Count : 1);

        // 2×2 windows at stride 2 over unit-stride float rows (every CNN's pooling): no phase split.
        var twoByTwo = vector && typeof(T) == typeof(float) && sW == 1 && IsTwoByTwo(kernel, stride, padding, dilation, h, w, oh, ow);
        Threads.For(n * c, workers, plane =>
        {
            var xs = x.Span;
            var ys = y.Span.Slice(plane * oh * ow, oh * ow);
            var arg = record ? argmax.Span.Slice(plane * oh * ow, oh * ow) : default;
            var xPlane = xOffset + plane / c * sN + plane % c * sC;
            if (twoByTwo)
            {
                if (ow >= 8)
                {
                    MaxPlane2x2<Vector256<float>, Vector256<int>, Lanes256<float>>(MemoryMarshal.Cast<T, float>(xs), xPlane, sH, oh, ow, MemoryMarshal.Cast<T, float>(ys), MemoryMarshal.Cast<TIndex, byte>(arg));
                }
                else
                {
                    MaxPlane2x2<Vector128<float>, Vector128<int>, Lanes128<float>>(MemoryMarshal.Cast<T, float>(xs), xPlane, sH, oh, ow, MemoryMarshal.Cast<T, float>(ys), MemoryMarshal.Cast<TIndex, byte>(arg));
                }
            }
            else if (vector)
            {
                MaxPlaneVector(xs, xPlane, sH, sW, h, kernel, stride.H, padding.H, dilation.H, oh, ow, g, ys, arg, noTap);
            }
            else
            {
                MaxPlaneScalar(xs, xPlane, sH, sW, h, w, kernel, stride, padding, dilation, oh, ow, ys, arg, noTap);
            }
        });
    }

    /// <summary>The direct loop, one window at a time (PyTorch's loop).</summary>
    private static void MaxPlaneScalar<T, TIndex>(
        ReadOnlySpan<T> xs, int xPlane, int sH, int sW, int h, int w,
        Size2 kernel, Size2 stride, Size2 padding, Size2 dilation, int oh, int ow,
        Span<T> ys, Span<TIndex> arg, int noTap)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        var o = 0;
        for (var i = 0; i < oh; i++)
        {
            var h0 = i * stride.H - padding.H;
            var (khStart, khEnd) = Taps(h0, h, kernel.H, dilation.H);
            for (var j = 0; j < ow; j++, o++)
            {
                var w0 = j * stride.W - padding.W;
                var (kwStart, kwEnd) = Taps(w0, w, kernel.W, dilation.W);

                // PyTorch's rule: start from the first tap inside the input at −∞, take a tap when
                // it is strictly greater (so ties keep the first) or NaN.
                var best = T.NegativeInfinity;
                var bestTap = khStart < khEnd && kwStart < kwEnd ? khStart * kernel.W + kwStart : noTap;
                for (var kh = khStart; kh < khEnd; kh++)
                {
                    var row = xPlane + (h0 + kh * dilation.H) * sH + w0 * sW;
                    for (var kw = kwStart; kw < kwEnd; kw++)
                    {
                        var v = xs[row + kw * dilation.W * sW];
                        if (v > best || T.IsNaN(v))
                        {
                            best = v;
                            bestTap = kh * kernel.W + kw;
                        }
                    }
                }

                ys[o] = best;
                if (!arg.IsEmpty)
                {
                    arg[o] = TIndex.CreateTruncating(bestTap);
                }
            }
        }
    }

    /// <summary>
    /// Whether the windows are the 2×2 stride-2 path's (<see cref="MaxPlane2x2"/>, <see cref="RouteMax2x2"/>):
    /// unpadded, undilated, every window inside the input, and at least 4 per row (one narrow vector).
    /// </summary>
    private static bool IsTwoByTwo(Size2 kernel, Size2 stride, Size2 padding, Size2 dilation, int h, int w, int oh, int ow) =>
        kernel == new Size2(2, 2) && stride == new Size2(2, 2) && padding == new Size2(0, 0) && dilation == new Size2(1, 1)
        && ow >= 4 && 2 * oh <= h && 2 * ow <= w;

    /// <summary>
    /// 2×2 windows at stride 2 of one float plane (rows sH apart, unit stride within a row, at least
    /// <c>TL.Count</c> windows per row): a vector of windows at a time, each input row's 2·Count elements
    /// split into even and odd columns by permutes, then the taps (row 0 even, row 0 odd, row 1 even, row 1
    /// odd: tap numbers 0–3, row-major window order) taken with the scalar rule (strictly greater, or NaN),
    /// so values and argmaxes are exactly the general loop's. The last block of a row overlaps the one
    /// before when ow is not a multiple of the lanes: the same windows give the same values, so no tail loop.
    /// </summary>
    private static void MaxPlane2x2<TF, TI, TL>(ReadOnlySpan<float> xs, int xPlane, int sH, int oh, int ow, Span<float> ys, Span<byte> arg)
        where TF : struct
        where TI : struct
        where TL : struct, IMaxPoolLanes<float, TF, TI>
    {
        ref var x0 = ref MemoryMarshal.GetReference(xs);
        ref var y0 = ref MemoryMarshal.GetReference(ys);
        var lanes = TL.Count;
        for (var i = 0; i < oh; i++)
        {
            ref var row0 = ref Unsafe.Add(ref x0, xPlane + 2 * i * sH);
            ref var row1 = ref Unsafe.Add(ref row0, sH);
            var o = i * ow;
            for (var j = 0; j < ow; j += lanes)
            {
                j = Math.Min(j, ow - lanes);
                var (e0, o0) = TL.Split(ref Unsafe.Add(ref row0, 2 * j));
                var (e1, o1) = TL.Split(ref Unsafe.Add(ref row1, 2 * j));
                var m = e0;
                var t = TL.Taps(0);
                TL.Take(ref m, ref t, o0, 1);
                TL.Take(ref m, ref t, e1, 2);
                TL.Take(ref m, ref t, o1, 3);
                TL.Store(m, ref Unsafe.Add(ref y0, o + j));
                if (!arg.IsEmpty)
                {
                    TL.StoreTaps(t, arg.Slice(o + j, lanes));
                }
            }
        }
    }

    /// <summary>
    /// The adjoint of <see cref="MaxPlane2x2"/> for one plane (dY rows of unit stride, or of stride 0): a
    /// vector of windows at a time, dY goes to the even or odd column of the top or bottom row that the tap
    /// number names and zero to the other three, then the columns are interleaved back and each input row
    /// pair is stored whole (no clear, no scatter). An overlapping last block rewrites the same values.
    /// </summary>
    private static void RouteMax2x2<TF, TI, TL>(ReadOnlySpan<float> dys, int at, int rowStride, bool expandedRows, ReadOnlySpan<byte> arg, int oh, int ow, int w, Span<float> dxs)
        where TF : struct
        where TI : struct
        where TL : struct, IMaxPoolLanes<float, TF, TI>
    {
        ref var dy0 = ref MemoryMarshal.GetReference(dys);
        ref var dx0 = ref MemoryMarshal.GetReference(dxs);
        var lanes = TL.Count;
        for (var i = 0; i < oh; i++)
        {
            ref var top = ref Unsafe.Add(ref dx0, 2 * i * w);
            ref var bottom = ref Unsafe.Add(ref top, w);
            for (var j = 0; j < ow; j += lanes)
            {
                j = Math.Min(j, ow - lanes);

                // A dY row of stride 0 (the gradient of a sum, expanded) is one value.
                var g = expandedRows ? TL.Splat(Unsafe.Add(ref dy0, at + i * rowStride)) : TL.Load(ref Unsafe.Add(ref dy0, at + i * rowStride + j));
                var t = TL.LoadTaps(arg.Slice(i * ow + j, lanes));
                TL.Interleave(TL.Where(t, 0, g), TL.Where(t, 1, g), ref Unsafe.Add(ref top, 2 * j));
                TL.Interleave(TL.Where(t, 2, g), TL.Where(t, 3, g), ref Unsafe.Add(ref bottom, 2 * j));
            }
        }
    }

    /// <summary>
    /// Where the taps of a row of windows land, shared by every row of every plane. An input row padded
    /// with −∞ is split into <c>Phases</c> = sW interleaved phases (phase r holds padded columns q·sW + r),
    /// so tap kw of the windows j, j+1, … reads consecutive elements of phase (kw·dW) mod sW from
    /// q = j + ⌊kw·dW / sW⌋: one vector load per tap for a block of windows, whatever the stride.
    /// </summary>
    private sealed class RowGeometry
    {
        public RowGeometry(int w, int kw, int sw, int pw, int dw, int ow, int lanes)
        {
            (Width, Stride, Pad, Ow, Lanes) = (w, sw, pw, ow, lanes);
            Blocks = (ow + lanes - 1) / lanes;
            Phase = new int[kw];
            Shift = new int[kw];
            var maxShift = 0;
            for (var t = 0; t < kw; t++)
            {
                (Shift[t], Phase[t]) = Math.DivRem(t * dw, sw);
                maxShift = Math.Max(maxShift, Shift[t]);
            }

            PhaseLength = Blocks * lanes + maxShift;

            // First tap inside the input of each window column (kw index), or −1 when none is.
            FirstTap = new int[Blocks * lanes];
            for (var j = 0; j < FirstTap.Length; j++)
            {
                var (start, end) = j < ow ? Taps(j * sw - pw, w, kw, dw) : (0, 0);
                FirstTap[j] = start < end ? start : -1;
            }
        }

        public int Width { get; }

        public int Stride { get; }

        public int Pad { get; }

        public int Ow { get; }

        public int Lanes { get; }

        public int Blocks { get; }

        public int PhaseLength { get; }

        public int[] Phase { get; }

        public int[] Shift { get; }

        public int[] FirstTap { get; }
    }

    /// <summary>
    /// One plane, a row of windows at a time: each input row the row of windows touches is split into
    /// its −∞-padded phases once, then each block of windows keeps its running max and tap number in
    /// registers while every tap is one vector load, compare and select. The taps are visited in
    /// row-major window order with the scalar rule (strictly greater, or NaN), so the values and argmaxes
    /// are exactly the scalar loop's; padded taps are −∞ and never win.
    /// </summary>
    [SkipLocalsInit]
    private static void MaxPlaneVector<T, TIndex>(
        ReadOnlySpan<T> xs, int xPlane, int sH, int sW, int h,
        Size2 kernel, int strideH, int padH, int dilationH, int oh, int ow, RowGeometry g,
        Span<T> ys, Span<TIndex> arg, int noTap)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        var lanes = g.Lanes;
        var phases = g.Stride;
        var pl = g.PhaseLength;
        var rowLength = phases * pl;
        var width = g.Blocks * lanes;

        // Every input row of the plane split into its phases once (a row serves several rows of windows
        // when they overlap); on the stack for planes up to 4096 phase elements, else a rented array.
        T[]? rented = null;
        Span<T> rows = h * rowLength <= 4096 ? stackalloc T[h * rowLength] : (rented = ArrayPool<T>.Shared.Rent(h * rowLength));
        Span<T> taps = width <= 256 ? stackalloc T[width] : new T[width];
        Span<T> best = width <= 256 ? stackalloc T[width] : new T[width];
        ref var x0 = ref MemoryMarshal.GetReference(xs);
        ref var rows0 = ref MemoryMarshal.GetReference(rows);
        var negativeInfinity = T.NegativeInfinity;
        for (var hi = 0; hi < h; hi++)
        {
            ref var source = ref Unsafe.Add(ref x0, xPlane + hi * sH);
            ref var target = ref Unsafe.Add(ref rows0, hi * rowLength);
            for (var r = 0; r < phases; r++)
            {
                // Phase r, element q = padded column q·sW + r = input column q·sW + r − pW: −∞ before
                // qLo and from qHi on, the input in between (read unchecked: those columns are inside the view).
                var qLo = Math.Min(pl, Math.Max(0, (g.Pad - r + phases - 1) / phases));
                var qHi = Math.Max(qLo, Math.Min(pl, (g.Width + g.Pad - r + phases - 1) / phases));
                ref var phase = ref Unsafe.Add(ref target, r * pl);
                for (var q = 0; q < qLo; q++)
                {
                    Unsafe.Add(ref phase, q) = negativeInfinity;
                }

                var step = phases * sW;
                var at = (qLo * phases + r - g.Pad) * sW;
                for (var q = qLo; q < qHi; q++, at += step)
                {
                    Unsafe.Add(ref phase, q) = Unsafe.Add(ref source, at);
                }

                for (var q = qHi; q < pl; q++)
                {
                    Unsafe.Add(ref phase, q) = negativeInfinity;
                }
            }
        }

        for (var i = 0; i < oh; i++)
        {
            var h0 = i * strideH - padH;
            var (khStart, khEnd) = Taps(h0, h, kernel.H, dilationH);
            for (var j = 0; j < width; j++)
            {
                taps[j] = khStart < khEnd && g.FirstTap[j] >= 0 ? T.CreateTruncating(khStart * kernel.W + g.FirstTap[j]) : T.CreateTruncating(noTap);
            }

            for (var b = 0; b < width; b += lanes)
            {
                var m = Vector256.Create(negativeInfinity);
                var t = Vector256.Create(taps.Slice(b, lanes));
                for (var kh = khStart; kh < khEnd; kh++)
                {
                    ref var row = ref Unsafe.Add(ref rows0, (h0 + kh * dilationH) * rowLength + b);
                    for (var kw = 0; kw < kernel.W; kw++)
                    {
                        var v = Vector256.LoadUnsafe(ref row, (nuint)(g.Phase[kw] * pl + g.Shift[kw]));

                        // Strictly greater, or NaN (v ≠ v): the scalar rule, lane by lane.
                        var take = Vector256.GreaterThan(v, m) | ~Vector256.Equals(v, v);
                        m = Vector256.ConditionalSelect(take, v, m);
                        t = Vector256.ConditionalSelect(take, Vector256.Create(T.CreateTruncating(kh * kernel.W + kw)), t);
                    }
                }

                m.CopyTo(best.Slice(b, lanes));
                t.CopyTo(taps.Slice(b, lanes));
            }

            var o = i * ow;
            best[..ow].CopyTo(ys.Slice(o, ow));
            if (!arg.IsEmpty)
            {
                for (var j = 0; j < ow; j++)
                {
                    arg[o + j] = TIndex.CreateTruncating(int.CreateTruncating(taps[j]));
                }
            }
        }

        if (rented is not null)
        {
            ArrayPool<T>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// The adjoint of the windowed max: dx[tap of argmax[o]] += dy[o] for every output o, written into a
    /// row-major [N, C, H, W] dx that this clears plane by plane first (no separate zero-fill pass: each
    /// plane is cleared and scattered into while in cache). Overlapping windows can share a winner, so
    /// their gradients add, in output order. Planes are independent, so they run in parallel without
    /// races and without changing a bit. dy is any [N, C, OH, OW] view (element [n, c, i, j] at
    /// dyOffset + n·dyStrides[0] + ...).
    /// </summary>
    public static void MaxBackward<T, TIndex>(
        ReadOnlyMemory<T> dy, int dyOffset, int[] dyStrides, ReadOnlyMemory<TIndex> argmax, int n, int c, int h, int w, int oh, int ow,
        Size2 kernel, Size2 stride, Size2 padding, Size2 dilation, Memory<T> dx, int noTap, int workers)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        var (s0, s1, s2, s3) = (dyStrides[0], dyStrides[1], dyStrides[2], dyStrides[3]);
        var tapOffset = TapOffsets(kernel, dilation, w);

        // The forward's 2×2 stride-2 float windows: disjoint, so each input element is written once.
        var twoByTwo = typeof(T) == typeof(float) && typeof(TIndex) == typeof(byte) && Simd.Width<T>() != VectorWidth.None
            && (s3 == 1 || s3 == 0) && IsTwoByTwo(kernel, stride, padding, dilation, h, w, oh, ow);
        Threads.For(n * c, workers, plane =>
        {
            var dys = dy.Span;
            var arg = argmax.Span.Slice(plane * oh * ow, oh * ow);
            var dxs = dx.Span.Slice(plane * h * w, h * w);
            var at = dyOffset + plane / c * s0 + plane % c * s1;
            if (twoByTwo)
            {
                if (2 * oh < h || 2 * ow < w)
                {
                    // The last row or column is in no window.
                    dxs.Clear();
                }

                var dyF = MemoryMarshal.Cast<T, float>(dys);
                var dxF = MemoryMarshal.Cast<T, float>(dxs);
                var taps = MemoryMarshal.Cast<TIndex, byte>(arg);
                if (ow >= 8)
                {
                    RouteMax2x2<Vector256<float>, Vector256<int>, Lanes256<float>>(dyF, at, s2, s3 == 0, taps, oh, ow, w, dxF);
                }
                else
                {
                    RouteMax2x2<Vector128<float>, Vector128<int>, Lanes128<float>>(dyF, at, s2, s3 == 0, taps, oh, ow, w, dxF);
                }
                return;
            }

            dxs.Clear();
            var o = 0;
            for (var i = 0; i < oh; i++)
            {
                var origin = (i * stride.H - padding.H) * w - padding.W;
                var dyRow = at + i * s2;
                for (var j = 0; j < ow; j++, o++)
                {
                    var tap = int.CreateTruncating(arg[o]);
                    if (tap != noTap)
                    {
                        dxs[origin + j * stride.W + tapOffset[tap]] += dys[dyRow + j * s3];
                    }
                }
            }
        });
    }

    /// <summary>
    /// The row-major flat index in [N, C, H, W] of each output's winning tap (−1 for none): the form
    /// the recorded routing scatter of a create-graph backward takes (<c>IndexRouting</c>).
    /// </summary>
    public static int[] FlatIndices<TIndex>(
        ReadOnlySpan<TIndex> argmax, int planes, int h, int w, int oh, int ow,
        Size2 kernel, Size2 stride, Size2 padding, Size2 dilation, int noTap)
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        var tapOffset = TapOffsets(kernel, dilation, w);
        var flat = new int[argmax.Length];
        var o = 0;
        for (var plane = 0; plane < planes; plane++)
        {
            for (var i = 0; i < oh; i++)
            {
                var origin = plane * h * w + (i * stride.H - padding.H) * w - padding.W;
                for (var j = 0; j < ow; j++, o++)
                {
                    var tap = int.CreateTruncating(argmax[o]);
                    flat[o] = tap == noTap ? -1 : origin + j * stride.W + tapOffset[tap];
                }
            }
        }

        return flat;
    }

    /// <summary>Tap kh·KW + kw's offset from its window's origin in a row-major plane of width w: kh·dH·w + kw·dW.</summary>
    private static int[] TapOffsets(Size2 kernel, Size2 dilation, int w)
    {
        var offsets = new int[kernel.H * kernel.W];
        for (var t = 0; t < offsets.Length; t++)
        {
            offsets[t] = t / kernel.W * dilation.H * w + t % kernel.W * dilation.W;
        }

        return offsets;
    }

    /// <summary>Kernel taps [start, end) of a window starting at <paramref name="origin"/> that land in 0..size-1.</summary>
    private static (int Start, int End) Taps(int origin, int size, int kernel, int dilation)
    {
        var start = origin >= 0 ? 0 : (-origin + dilation - 1) / dilation;
        var end = origin >= size ? 0 : Math.Min(kernel, (size - 1 - origin) / dilation + 1);
        return (start, Math.Max(start, end));
    }
}
