using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Autograd.Kernels;

/// <summary>
/// 3×3 stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3) (Lavin and Gray, "Fast Algorithms
/// for Convolutional Neural Networks", 2016): each 2×2 block of outputs ("tile") comes from a 4×4 patch of
/// the padded input as Y = Aᵀ[Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B)]A, 16 multiplies per channel where the direct
/// form takes 36. The sum over channels is 16 GEMMs, one per transform position (ξ, ν):
/// M_ξν [Cout, tiles] = U_ξν [Cout, Cin] · V_ξν [Cin, tiles], 2.25 times fewer multiply-adds than im2col's.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>U = G g Gᵀ per filter, once per call, packed as GEMM left operands (<see cref="Gemm.Pack{T}"/>).</item>
/// <item>V = Bᵀ d B per channel and tile, a band of tile rows at a time (up to 4 MiB of float each for V and M): the
/// four input rows of a tile row are split into their even and odd columns, so the row transform
/// d·B of every tile in the row is four vector adds, and the column transform Bᵀ(·) four more.</item>
/// <item>Y = Aᵀ M A per output channel and tile, written into the output rows.</item>
/// </list>
/// The input gradient of such a convolution is another one, over dY with the filters flipped and their
/// channel axes swapped and padding 2 − p (<see cref="Shape.Adjoint"/>), so dX goes the same way. With
/// G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1], Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1] and
/// Aᵀ = [1 1 1 0; 0 1 −1 −1] the transforms take only additions and halvings, and the result differs from
/// the direct sum by rounding only (a few ulp more than im2col's order of summation).
/// </remarks>
internal static class Winograd
{
    // Elements of V (and of M) for one band of tile rows: 4 MiB of float, a whole 56 × 56 image of 64
    // channels (c3). Bands sized for L2 were slower: each of a band's 16 GEMMs is short (depth Cin) and
    // pays the product's set-up, packing and ragged edge, so the fewer and wider the better. c3's forward
    // against the column path, one thread, `abprobe c3`: 0.86–0.89 in ten bands of 3 tile rows, 0.77 in
    // four of 9, 0.77 in two of 18, 0.71–0.73 in one of 28.
    // (Settable so that tests can cut images into many bands.)
    internal static int BandElements { get; set; } = 1024 * 1024;

    // Channels on each side below which the column path is faster (see Applies).
    private const int MinChannels = 64;

    /// <summary>Test hook: turns the path off so the other paths can be compared with it.</summary>
    internal static bool Disabled { get; set; }

    /// <summary>
    /// Whether the convolution goes here: 3×3, stride 1, dilation 1, padding at most 2 on each side, the
    /// output the windows that fit, and at least 64 channels on both sides, the depth of the 16 GEMMs in
    /// one direction or the other: with 32 input channels (c2, 28 × 28, 32 → 64) the short products lost
    /// to the column path (9.1–9.6 against 7.4–7.5 ms forward, alternating runs), with 64 (c3) they win.
    /// Small images that fit <see cref="WideConv"/> stay there.
    /// </summary>
    public static bool Applies<T>(in ConvGeometry g)
        where T : unmanaged
    {
        return !Disabled && (typeof(T) == typeof(float) || typeof(T) == typeof(double)) && Vector.IsHardwareAccelerated
            && !WideConv.Applies<T>(g)
            && g.KH == 3 && g.KW == 3 && g.Stride.H == 1 && g.Stride.W == 1 && g.Dilation.H == 1 && g.Dilation.W == 1
            && g.PadTop <= 2 && g.PadBottom <= 2 && g.PadLeft <= 2 && g.PadRight <= 2
            && g.OH == g.H + g.PadTop + g.PadBottom - 2 && g.OW == g.W + g.PadLeft + g.PadRight - 2
            && g.OH >= 2 && g.OW >= 2 && g.Cg >= MinChannels && g.Fg >= MinChannels;
    }

    /// <summary>
    /// One direction of the convolution: Cin input planes of InH × InW, Cout output planes of OutH × OutW,
    /// the input padded by PadTop rows and PadLeft columns before the first (the rest is implied).
    /// </summary>
    public readonly record struct Shape(int Cin, int InH, int InW, int Cout, int OutH, int OutW, int PadTop, int PadLeft)
    {
        /// <summary>The convolution of the geometry: X [Cg, H, W] to Y [Fg, OH, OW].</summary>
        public static Shape Forward(in ConvGeometry g) => new(g.Cg, g.H, g.W, g.Fg, g.OH, g.OW, g.PadTop, g.PadLeft);

        /// <summary>Its adjoint: dY [Fg, OH, OW] to dX [Cg, H, W], the full convolution with padding 2 − p.</summary>
        public static Shape Adjoint(in ConvGeometry g) => new(g.Fg, g.OH, g.OW, g.Cg, g.H, g.W, 2 - g.PadTop, 2 - g.PadLeft);

        public int TileRows => (OutH + 1) / 2;

        public int TileColumns => (OutW + 1) / 2;
    }

    /// <summary>
    /// U_ξν = (G g Gᵀ)[ξ, ν] of every group's filters, packed: [Cout, Cin] per group and position. For the
    /// adjoint, filter (c, f) is W[f, c] turned by 180°.
    /// </summary>
    public sealed class Filters<T> : IDisposable
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly Gemm.PackedA<T>[] _packed;

        // U before packing, kept until Dispose: the packed operands read it again for products too small to pack.
        private T[]? _u;

        public Filters(ReadOnlySpan<T> w, int offset, in ConvGeometry g, bool adjoint)
        {
            var (cout, cin) = adjoint ? (g.Cg, g.Fg) : (g.Fg, g.Cg);
            _packed = new Gemm.PackedA<T>[g.Groups * 16];
            var u = _u = System.Buffers.ArrayPool<T>.Shared.Rent(16 * cout * cin * g.Groups);
            Span<T> taps = stackalloc T[9];
            Span<T> gg = stackalloc T[12];
            var half = T.CreateTruncating(0.5);

            // One 3-point transform, applied down the columns of g and then along the rows of G g:
            // (a, b, d) → (a, ½(a + b + d), ½(a − b + d), d).
            (T, T, T, T) G(T a, T b, T d) => (a, half * (a + b + d), half * (a - b + d), d);
            for (var group = 0; group < g.Groups; group++)
            {
                for (var o = 0; o < cout; o++)
                {
                    for (var i = 0; i < cin; i++)
                    {
                        // Filter (o, i) of this direction: W[f, c] with f, c the conv's filter and channel.
                        var (f, c) = adjoint ? (i, o) : (o, i);
                        var at = offset + ((group * g.Fg + f) * g.Cg + c) * 9;
                        for (var t = 0; t < 9; t++)
                        {
                            taps[t] = w[at + (adjoint ? 8 - t : t)];
                        }

                        // G g (4 × 3), then (G g) Gᵀ (4 × 4).
                        for (var j = 0; j < 3; j++)
                        {
                            (gg[j], gg[3 + j], gg[6 + j], gg[9 + j]) = G(taps[j], taps[3 + j], taps[6 + j]);
                        }

                        for (var xi = 0; xi < 4; xi++)
                        {
                            var row = group * 16 * cout * cin + xi * 4 * cout * cin + o * cin + i;
                            (u[row], u[row + cout * cin], u[row + 2 * cout * cin], u[row + 3 * cout * cin]) = G(gg[3 * xi], gg[3 * xi + 1], gg[3 * xi + 2]);
                        }
                    }
                }

                for (var xn = 0; xn < 16; xn++)
                {
                    _packed[group * 16 + xn] = Gemm.Pack<T>(cout, cin, u, (group * 16 + xn) * cout * cin, cin, 1);
                }
            }
        }

        public Gemm.PackedA<T> For(int group, int position) => _packed[group * 16 + position];

        public void Dispose()
        {
            foreach (var packed in _packed)
            {
                packed?.Dispose();
            }

            if (_u is { } u)
            {
                _u = null;
                System.Buffers.ArrayPool<T>.Shared.Return(u);
            }
        }
    }

    /// <summary>Scratch elements one worker needs for <see cref="Convolve{T}"/> of this shape.</summary>
    public static int ScratchLength<T>(in Shape s)
    {
        var layout = new Layout(s, Vector<T>.Count);
        return layout.Length;
    }

    /// <summary>
    /// Y [Cout, OutH, OutW] (at <paramref name="y"/>[yOffset..], dense) = conv of the input planes
    /// x[x0 + c·sC + r·sH + s·sW] with the group's transformed filters; every output element written.
    /// </summary>
    public static void Convolve<T>(Filters<T> filters, int group, in Shape s, ReadOnlySpan<T> x, int x0, int sC, int sH, int sW, Span<T> y, int yOffset, T[] scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var vc = Vector<T>.Count;
        var layout = new Layout(s, vc);
        var (tw, th) = (s.TileColumns, s.TileRows);
        var v = scratch.AsSpan(layout.V, 16 * s.Cin * layout.Ld);
        var m = scratch.AsSpan(layout.M, 16 * s.Cout * layout.Ld);
        var rows = scratch.AsSpan(layout.Rows, 8 * layout.RowLength);
        var outRows = scratch.AsSpan(layout.Out, 4 * layout.RowLength);
        rows.Clear();
        for (var t0 = 0; t0 < th; t0 += layout.BandRows)
        {
            var bandRows = Math.Min(layout.BandRows, th - t0);
            var tiles = bandRows * tw;

            // V_ξν[c, t] = (Bᵀ d B)[ξ, ν] of channel c's patch under tile t.
            for (var c = 0; c < s.Cin; c++)
            {
                for (var r = 0; r < bandRows; r++)
                {
                    SplitRows(x, x0 + c * sC, sH, sW, s, 2 * (t0 + r) - s.PadTop, rows, layout.RowLength);
                    InputTransform(rows, layout.RowLength, tw, v, c * layout.Ld + r * tw, s.Cin * layout.Ld);
                }
            }

            // M_ξν = U_ξν · V_ξν.
            for (var xn = 0; xn < 16; xn++)
            {
                Gemm.Multiply(filters.For(group, xn), tiles, scratch, layout.V + xn * s.Cin * layout.Ld, layout.Ld, 1, scratch, layout.M + xn * s.Cout * layout.Ld, layout.Ld, accumulate: false);
            }

            // Y = Aᵀ M A, tile row by tile row.
            for (var o = 0; o < s.Cout; o++)
            {
                for (var r = 0; r < bandRows; r++)
                {
                    OutputTransform(m, o * layout.Ld + r * tw, s.Cout * layout.Ld, tw, outRows, layout.RowLength);
                    var oh = 2 * (t0 + r);
                    var plane = yOffset + o * s.OutH * s.OutW;
                    for (var a = 0; a < 2 && oh + a < s.OutH; a++)
                    {
                        Interleave(outRows.Slice(2 * a * layout.RowLength, layout.RowLength), outRows.Slice((2 * a + 1) * layout.RowLength, layout.RowLength), y.Slice(plane + (oh + a) * s.OutW, s.OutW));
                    }
                }
            }
        }
    }

    /// <summary>Where each part of a worker's scratch starts, and the band and row sizes.</summary>
    private readonly struct Layout
    {
        public Layout(in Shape s, int vc)
        {
            var tw = s.TileColumns;
            BandRows = Math.Clamp(BandElements / (16 * Math.Max(s.Cin, s.Cout) * tw), 1, s.TileRows);

            // A band's tiles, plus one vector: the last tile row's vector steps run past the band's end.
            // The 16 matrices of V (and of M) are written side by side, one vector in each: a matrix
            // stride of a multiple of 4 KiB would put all 16 in the same cache sets (a band of 18 tile
            // rows of c3, 64 × 512 floats apart, ran at 0.94 of the column path against 0.71 for 28 rows),
            // so the rows are lengthened by a vector until it is not.
            // A step of one vector leaves Ld·C's residue mod 1024 unchanged when vc·C is a multiple of 1024
            // (128 float channels, 256 double ones), so then the step is one element; when C itself is a
            // multiple of 1024 no length helps, and the rows stay as they are (slower, not wrong).
            Ld = BandRows * tw + vc;
            var step = (long)vc * s.Cin % 1024 == 0 || (long)vc * s.Cout % 1024 == 0 ? 1 : vc;
            for (var tries = 0; tries < 16 && ((long)Ld * s.Cin % 1024 == 0 || (long)Ld * s.Cout % 1024 == 0); tries++)
            {
                Ld += step;
            }

            // A row split into even and odd columns: tw + 1 of each, then a vector of slack for the
            // shifted loads (u + 1) of the last step.
            RowLength = (tw + vc) / vc * vc + vc;
            V = 0;
            M = V + 16 * s.Cin * Ld;
            Rows = M + 16 * s.Cout * Ld;
            Out = Rows + 8 * RowLength;
            Length = Out + 4 * RowLength;
        }

        public int BandRows { get; }

        public int Ld { get; }

        public int RowLength { get; }

        public int V { get; }

        public int M { get; }

        public int Rows { get; }

        public int Out { get; }

        public int Length { get; }
    }

    /// <summary>
    /// The four padded input rows r0 … r0 + 3 of one plane, each split into its even columns E[u] = xpad[2u]
    /// and odd ones O[u] = xpad[2u + 1] for u ≤ TileColumns (rows[2i] and rows[2i + 1], each
    /// <paramref name="rowLength"/> long); padding reads as zero.
    /// </summary>
    private static void SplitRows<T>(ReadOnlySpan<T> x, int plane, int sH, int sW, in Shape s, int r0, Span<T> rows, int rowLength)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var count = s.TileColumns + 1;
        for (var i = 0; i < 4; i++)
        {
            var even = rows.Slice(2 * i * rowLength, count);
            var odd = rows.Slice((2 * i + 1) * rowLength, count);
            var r = r0 + i;
            if ((uint)r >= (uint)s.InH)
            {
                even.Clear();
                odd.Clear();
                continue;
            }

            var line = plane + r * sH;
            for (var phase = 0; phase < 2; phase++)
            {
                // Column u of this phase reads input column 2u + phase − PadLeft.
                var dst = phase == 0 ? even : odd;
                var shift = phase - s.PadLeft;
                var (start, end) = ConvColumns.ValidRun(shift, 2, s.InW, count);
                dst[..start].Clear();
                dst[end..].Clear();
                ConvColumns.Gather(x, line + (2 * start + shift) * sW, 2 * sW, dst[start..end]);
            }
        }
    }

    /// <summary>
    /// V_ξν[at + u] (ξν-th matrix at stride <paramref name="matrix"/>) = (Bᵀ d_u B)[ξ, ν] for the tiles u of
    /// one tile row, from its four rows split into even and odd columns: d_u[i, j] = E_i[u], O_i[u],
    /// E_i[u + 1], O_i[u + 1] for j = 0 … 3.
    /// </summary>
    private static void InputTransform<T>(Span<T> rows, int rowLength, int tiles, Span<T> v, int at, int matrix)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref var r0 = ref MemoryMarshal.GetReference(rows);
        ref var v0 = ref MemoryMarshal.GetReference(v);
        _ = v.Slice(at + 15 * matrix, (tiles + Vector<T>.Count - 1) / Vector<T>.Count * Vector<T>.Count);
        for (var u = 0; u < tiles; u += Vector<T>.Count)
        {
            // d·B along each row: [d0 − d2, d1 + d2, d2 − d1, d1 − d3].
            Row(ref r0, 0, rowLength, u, out var a0, out var a1, out var a2, out var a3);
            Row(ref r0, 1, rowLength, u, out var b0, out var b1, out var b2, out var b3);
            Row(ref r0, 2, rowLength, u, out var c0, out var c1, out var c2, out var c3);
            Row(ref r0, 3, rowLength, u, out var e0, out var e1, out var e2, out var e3);

            // Bᵀ·(d B) down the columns: rows 0 − 2, 1 + 2, 2 − 1, 1 − 3.
            ref var dst = ref Unsafe.Add(ref v0, at + u);
            Store(ref dst, 0, matrix, a0 - c0, a1 - c1, a2 - c2, a3 - c3);
            Store(ref dst, 4, matrix, b0 + c0, b1 + c1, b2 + c2, b3 + c3);
            Store(ref dst, 8, matrix, c0 - b0, c1 - b1, c2 - b2, c3 - b3);
            Store(ref dst, 12, matrix, b0 - e0, b1 - e1, b2 - e2, b3 - e3);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row<T>(ref T rows, int i, int rowLength, int u, out Vector<T> t0, out Vector<T> t1, out Vector<T> t2, out Vector<T> t3)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref var even = ref Unsafe.Add(ref rows, 2 * i * rowLength + u);
        ref var odd = ref Unsafe.Add(ref rows, (2 * i + 1) * rowLength + u);
        var d0 = Vector.LoadUnsafe(ref even);
        var d1 = Vector.LoadUnsafe(ref odd);
        var d2 = Vector.LoadUnsafe(ref even, 1);
        var d3 = Vector.LoadUnsafe(ref odd, 1);
        t0 = d0 - d2;
        t1 = d1 + d2;
        t2 = d2 - d1;
        t3 = d1 - d3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(ref T dst, int first, int matrix, Vector<T> p0, Vector<T> p1, Vector<T> p2, Vector<T> p3)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        p0.StoreUnsafe(ref dst, (nuint)(first * matrix));
        p1.StoreUnsafe(ref dst, (nuint)((first + 1) * matrix));
        p2.StoreUnsafe(ref dst, (nuint)((first + 2) * matrix));
        p3.StoreUnsafe(ref dst, (nuint)((first + 3) * matrix));
    }

    /// <summary>
    /// (Aᵀ M_u A)[a, b] for the tiles u of one tile row of one output channel (M_ξν[at + u], matrices at
    /// stride <paramref name="matrix"/>), into out[(2a + b)·rowLength + u]: P = Aᵀ M (rows 0 + 1 + 2 and
    /// 1 − 2 − 3), then P A (columns likewise).
    /// </summary>
    private static void OutputTransform<T>(Span<T> m, int at, int matrix, int tiles, Span<T> output, int rowLength)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref var m0 = ref MemoryMarshal.GetReference(m);
        ref var out0 = ref MemoryMarshal.GetReference(output);
        _ = m.Slice(at + 15 * matrix, (tiles + Vector<T>.Count - 1) / Vector<T>.Count * Vector<T>.Count);
        _ = output.Slice(3 * rowLength, (tiles + Vector<T>.Count - 1) / Vector<T>.Count * Vector<T>.Count);
        for (var u = 0; u < tiles; u += Vector<T>.Count)
        {
            ref var src = ref Unsafe.Add(ref m0, at + u);
            Column(ref src, 0, matrix, out var p00, out var p10);
            Column(ref src, 1, matrix, out var p01, out var p11);
            Column(ref src, 2, matrix, out var p02, out var p12);
            Column(ref src, 3, matrix, out var p03, out var p13);
            (p00 + p01 + p02).StoreUnsafe(ref Unsafe.Add(ref out0, u));
            (p01 - p02 - p03).StoreUnsafe(ref Unsafe.Add(ref out0, rowLength + u));
            (p10 + p11 + p12).StoreUnsafe(ref Unsafe.Add(ref out0, 2 * rowLength + u));
            (p11 - p12 - p13).StoreUnsafe(ref Unsafe.Add(ref out0, 3 * rowLength + u));
        }
    }

    /// <summary>Column ν of P = Aᵀ M: M rows 0 + 1 + 2 and 1 − 2 − 3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Column<T>(ref T src, int nu, int matrix, out Vector<T> top, out Vector<T> bottom)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x0 = Vector.LoadUnsafe(ref src, (nuint)(nu * matrix));
        var x1 = Vector.LoadUnsafe(ref src, (nuint)((4 + nu) * matrix));
        var x2 = Vector.LoadUnsafe(ref src, (nuint)((8 + nu) * matrix));
        var x3 = Vector.LoadUnsafe(ref src, (nuint)((12 + nu) * matrix));
        top = x0 + x1 + x2;
        bottom = x1 - x2 - x3;
    }

    /// <summary>row[2u] = even[u], row[2u + 1] = odd[u] for the row's length.</summary>
    private static void Interleave<T>(ReadOnlySpan<T> even, ReadOnlySpan<T> odd, Span<T> row)
        where T : unmanaged
    {
        var pairs = row.Length / 2;
        for (var u = 0; u < pairs; u++)
        {
            row[2 * u] = even[u];
            row[2 * u + 1] = odd[u];
        }

        if ((row.Length & 1) != 0)
        {
            row[^1] = even[pairs];
        }
    }
}
