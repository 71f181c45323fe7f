using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Autograd.Kernels;

/// <summary>
/// A strided convolution as a stride-1 one over the input's stride phases (space-to-depth), so that each
/// row of the column matrix is one contiguous stretch of memory instead of a strided gather. The padded
/// input group [Cg, Hp, Wp] is split once into sH·sW phase planes per channel, phase (a, b) holding the
/// padded elements (qh·sH + a, qw·sW + b) at (qh, qw) of a [Hq, Wq] plane (Hq = ⌈Hp / sH⌉, Wq = ⌈Wp / sW⌉).
/// Tap (c, kh, kw) of output (oh, ow) reads padded element (oh·sH + kh·dH, ow·sW + kw·dW), which is phase
/// ((kh·dH) mod sH, (kw·dW) mod sW) at (oh + ⌊kh·dH / sH⌋, ow + ⌊kw·dW / sW⌋). With the output computed
/// Wq wide (position j = oh·Wq + ow), tap r reads the planes at off_r + j for every j:
/// off_r = ((c·sH + ih mod sH)·sW + iw mod sW)·Hq·Wq + ⌊ih / sH⌋·Wq + ⌊iw / sW⌋ with ih = kh·dH, iw = kw·dW.
/// The Wq − OW extra columns of each output row are computed and dropped, or zeroed before they can reach
/// dW or dX (the idea of <see cref="WideConv"/>'s wide rows, carried to strides above 1).
/// </summary>
internal static class PhasePlanes
{
    /// <summary>Test and benchmark hook: turns the path off so the strided gather of packed columns can be compared with it.</summary>
    internal static bool Disabled { get; set; }

    /// <summary>
    /// Whether a geometry goes here: a stride above 1 either way, a contraction too deep for the shallow
    /// kernel, at most one extra column per two real ones (Wq ≤ 2·OW), and one group's planes within
    /// 16 Mi elements (a worker's scratch).
    /// </summary>
    public static bool Applies<T>(in ConvGeometry g)
        where T : unmanaged
    {
        if (Disabled || (g.Stride.H == 1 && g.Stride.W == 1) || ShallowGemm.Applies<T>(g.K))
        {
            return false;
        }

        var s = new Shape(g);
        return s.Wq <= 2L * g.OW && (long)g.Cg * s.Phases * s.Plane <= 1 << 24;
    }

    /// <summary>The phase planes' sizes for a geometry.</summary>
    internal readonly struct Shape
    {
        public Shape(in ConvGeometry g)
        {
            var hp = g.H + g.PadTop + g.PadBottom;
            var wp = g.W + g.PadLeft + g.PadRight;
            Hq = (hp + g.Stride.H - 1) / g.Stride.H;
            Wq = (wp + g.Stride.W - 1) / g.Stride.W;
            Phases = g.Stride.H * g.Stride.W;
            Plane = Hq * Wq;

            // Every read off_r + j with j < OH·Wq ends before the planes' end plus ⌊(KW − 1)·dW / sW⌋ < Wq.
            Length = g.Cg * Phases * Plane + Wq;
            Wide = g.OH * Wq;
        }

        /// <summary>Rows and columns of one phase plane.</summary>
        public int Hq { get; }

        public int Wq { get; }

        /// <summary>sH·sW phases per channel.</summary>
        public int Phases { get; }

        /// <summary>Hq·Wq.</summary>
        public int Plane { get; }

        /// <summary>Elements of the planes of one group, with the slack the last rows read past them.</summary>
        public int Length { get; }

        /// <summary>The widened output plane OH·Wq.</summary>
        public int Wide { get; }
    }

    /// <summary>off_r for every row r = (c, kh, kw) of the column matrix, in its row order.</summary>
    public static void Offsets(in ConvGeometry g, Span<int> offsets)
    {
        var s = new Shape(g);
        var (sH, sW) = (g.Stride.H, g.Stride.W);
        var r = 0;
        for (var c = 0; c < g.Cg; c++)
        {
            for (var kh = 0; kh < g.KH; kh++)
            {
                var ih = kh * g.Dilation.H;
                for (var kw = 0; kw < g.KW; kw++)
                {
                    var iw = kw * g.Dilation.W;
                    offsets[r++] = ((c * sH + ih % sH) * sW + iw % sW) * s.Plane + ih / sH * s.Wq + iw / sW;
                }
            }
        }
    }

    /// <summary>
    /// The group's channels of image n split into the phase planes: every element of <paramref name="planes"/>
    /// written, zeros where the padded position is padding (any input strides).
    /// </summary>
    public static void Split<T>(Tensor<T> x, in ConvGeometry g, int n, int group, Span<T> planes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = new Shape(g);
        using var xr = x.Read();
        var st = xr.Strides;
        var data = xr.Span;
        var (sH, sW) = (g.Stride.H, g.Stride.W);
        for (var c = 0; c < g.Cg; c++)
        {
            // Phase rows that hold only padding (above and below the input) are cleared; the input's rows are
            // then split in their own order, so the input is read front to back.
            for (var a = 0; a < sH; a++)
            {
                for (var qh = 0; qh < s.Hq; qh++)
                {
                    if ((uint)(qh * sH + a - g.PadTop) >= (uint)g.H)
                    {
                        var row = ((c * sH + a) * sW * s.Hq + qh) * s.Wq;
                        for (var b = 0; b < sW; b++)
                        {
                            planes.Slice(row + b * s.Plane, s.Wq).Clear();
                        }
                    }
                }
            }

            var channel = xr.Offset + n * st[0] + (group * g.Cg + c) * st[1];
            for (var ih = 0; ih < g.H; ih++)
            {
                var ph = ih + g.PadTop;
                var row = ((c * sH + ph % sH) * sW * s.Hq + ph / sH) * s.Wq;
                if (sW == 2 && st[3] == 1 && typeof(T) == typeof(float) && Vector256.IsHardwareAccelerated)
                {
                    var ps = MemoryMarshal.Cast<T, float>(planes);
                    SplitRowInTwo(MemoryMarshal.Cast<T, float>(data).Slice(channel + ih * st[2], g.W), ps.Slice(row, s.Wq), ps.Slice(row + s.Plane, s.Wq), g.PadLeft);
                    continue;
                }

                SplitRow(data, channel + ih * st[2], st[3], g.W, g.PadLeft, sW, planes, row, s);
            }
        }

        planes[(g.Cg * s.Phases * s.Plane)..s.Length].Clear();
    }

    /// <summary>
    /// The adjoint of <see cref="Split{T}"/> on the input's own elements: dX's planes of the group of image n
    /// (dense [N, C, H, W]) written from the phase planes' real positions; padding positions are dropped.
    /// </summary>
    public static void Merge<T>(ReadOnlySpan<T> planes, in ConvGeometry g, int n, int group, Span<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = new Shape(g);
        var (sH, sW) = (g.Stride.H, g.Stride.W);
        for (var c = 0; c < g.Cg; c++)
        {
            for (var ih = 0; ih < g.H; ih++)
            {
                var ph = ih + g.PadTop;
                var row = ((c * sH + ph % sH) * sW * s.Hq + ph / sH) * s.Wq;
                var dst = dx.Slice(((n * g.C + group * g.Cg + c) * g.H + ih) * g.W, g.W);
                MergeRow(planes, row, g.PadLeft, sW, s, dst);
            }
        }
    }

    /// <summary>
    /// One input row (W elements at <paramref name="at"/>, step <paramref name="step"/>) into its sW phase
    /// rows (phase b at row + b·Plane): padded column pw = iw + e goes to phase pw mod sW at pw / sW; the
    /// phase rows' padding positions are zeroed.
    /// </summary>
    private static void SplitRow<T>(ReadOnlySpan<T> x, int at, int step, int w, int e, int sW, Span<T> planes, int row, in Shape s)
        where T : unmanaged
    {
        for (var b = 0; b < sW; b++)
        {
            var (lo, hi) = Inside(b, e, w, sW, s.Wq);
            var phase = planes.Slice(row + b * s.Plane, s.Wq);
            phase[..lo].Clear();
            phase[hi..].Clear();
        }

        // Element by element, the phase and its column stepped along (no division per element).
        var (q, b0) = Math.DivRem(e, sW);
        for (int iw = 0, b = b0; iw < w; iw++)
        {
            planes[row + b * s.Plane + q] = x[at + iw * step];
            if (++b == sW)
            {
                b = 0;
                q++;
            }
        }
    }

    /// <summary>
    /// <see cref="SplitRow{T}"/> for a contiguous float row at stride 2, its hot loop: padded column pw = iw + e
    /// goes to <paramref name="even"/> or <paramref name="odd"/> at pw / 2, sixteen input elements from an even
    /// padded column split into eight of each per step (<see cref="Lanes256{T}.Split"/>); padding positions zeroed.
    /// Every index stays inside the three spans (pw &lt; Wp ≤ 2·Wq), so the row is read and written unchecked.
    /// </summary>
    private static void SplitRowInTwo(ReadOnlySpan<float> src, Span<float> even, Span<float> odd, int e)
    {
        var (w, wq) = (src.Length, even.Length);
        ref var x = ref MemoryMarshal.GetReference(src);
        ref var p0 = ref MemoryMarshal.GetReference(even);
        ref var p1 = ref MemoryMarshal.GetReference(odd);

        // Phase 0 holds padded columns 2q, phase 1 columns 2q + 1; the input is columns [e, e + W).
        even[..((e + 1) >> 1)].Clear();
        even[Math.Min(wq, (e + w + 1) >> 1)..].Clear();
        odd[..(e >> 1)].Clear();
        odd[Math.Min(wq, (e + w) >> 1)..].Clear();

        var iw = e & 1;
        if (iw == 1)
        {
            Unsafe.Add(ref p1, e >> 1) = x;
        }

        for (; iw + 16 <= w; iw += 16)
        {
            var (evens, odds) = Lanes256<float>.Split(ref Unsafe.Add(ref x, iw));
            var q = (iw + e) >> 1;
            evens.StoreUnsafe(ref p0, (nuint)q);
            odds.StoreUnsafe(ref p1, (nuint)q);
        }

        for (; iw < w; iw++)
        {
            var pw = iw + e;
            Unsafe.Add(ref (pw & 1) == 0 ? ref p0 : ref p1, pw >> 1) = Unsafe.Add(ref x, iw);
        }
    }

    /// <summary>dst[iw] = the phase rows' element for padded column iw + e (the adjoint of <see cref="SplitRow{T}"/> on real columns).</summary>
    private static void MergeRow<T>(ReadOnlySpan<T> planes, int row, int e, int sW, in Shape s, Span<T> dst)
        where T : unmanaged
    {
        var w = dst.Length;
        var iw = 0;
        if (sW == 2 && typeof(T) == typeof(float) && Vector256.IsHardwareAccelerated)
        {
            iw = e & 1;
            if (iw == 1)
            {
                dst[0] = planes[row + s.Plane + (e >> 1)];
            }

            var ps = MemoryMarshal.Cast<T, float>(planes);
            var ds = MemoryMarshal.Cast<T, float>(dst);
            for (; iw + 16 <= w; iw += 16)
            {
                var qv = (iw + e) >> 1;
                var even = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(ps.Slice(row + qv, 8)));
                var odd = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(ps.Slice(row + s.Plane + qv, 8)));
                Lanes256<float>.Interleave(even, odd, ref MemoryMarshal.GetReference(ds.Slice(iw, 16)));
            }
        }

        var (q, b0) = Math.DivRem(iw + e, sW);
        for (var b = b0; iw < w; iw++)
        {
            dst[iw] = planes[row + b * s.Plane + q];
            if (++b == sW)
            {
                b = 0;
                q++;
            }
        }
    }

    /// <summary>Phase b's columns [lo, hi) that hold input elements: qw·sW + b − e in [0, W).</summary>
    private static (int Lo, int Hi) Inside(int b, int e, int w, int sW, int wq)
    {
        var lo = Math.Max(0, (e - b + sW - 1) / sW);
        var hi = Math.Min(wq, Math.Max(lo, (e + w - b + sW - 1) / sW));
        return (Math.Min(lo, wq), hi);
    }
}
