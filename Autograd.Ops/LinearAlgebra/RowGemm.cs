using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Autograd.Kernels;

/// <summary>
/// A product whose operands' rows lie anywhere in their buffers, named by tables of offsets, read and
/// written where they lie: no packing. <see cref="WideConv"/> uses it to convolve a small image without
/// im2col: the columns' row (c, kh, kw) is the padded input plane itself, shifted by c·Hp·Wp + kh·dH·Wp + kw·dW,
/// so a table of offsets replaces the column buffer (the indirection of XNNPACK's indirect convolution,
/// one level up: per row of taps instead of per pixel).
/// </summary>
/// <remarks>
/// A tile of <see cref="TileRows"/> rows × two vectors stays in registers: per step of the contraction two
/// vector loads of B and eight broadcasts of A feed sixteen FMAs; a last column block of one vector runs
/// the same tile at half width. <see cref="DotsAdd{T}"/> contracts along the rows instead (C = A·Bᵀ) with a
/// 4 × 4 (or, where it computes fewer dots past the edges, 3 × 5) tile of vector accumulators summed across
/// lanes at the end, for long rows and few of them.
/// Each sums over the contraction in order, so a result does not depend
/// on how the caller splits rows or columns. Columns come in whole vectors (<see cref="Granule{T}"/>);
/// the caller lays out its buffers so the rounded rows exist, and an optional mask (all bits set: keep,
/// zero: drop) says which columns of C are real.
/// </remarks>
[SkipLocalsInit]
internal static class RowGemm
{
    /// <summary>Rows of C per register tile.</summary>
    public const int TileRows = 8;

    /// <summary>Whether the kernel runs here (256-bit vectors of T at least).</summary>
    public static bool IsSupported<T>()
        where T : unmanaged => Simd.Width<T>() != VectorWidth.None;

    /// <summary>Columns per vector: n of every call is a multiple of this.</summary>
    public static int Granule<T>()
        where T : unmanaged => Wide<T>() ? Vector512<T>.Count : Vector256<T>.Count;

    private static bool Wide<T>()
        where T : unmanaged => Simd.Width<T>() == VectorWidth.Vector512;

    /// <summary>
    /// C[i, j] = (accumulate ? C[i, j] : 0) + mask[j] ∧ Σ_p A[i, p]·B[p, j] for i &lt; m, j &lt; n, p &lt; k, where
    /// A[i, p] = a[aRows[i] + aCols[p]], B[p, j] = b[bRows[p] + j] and C[i, j] = c[cRows[i] + j]. An empty mask
    /// keeps every column; a dropped column of C is left as it was (accumulate) or zero. Rows of C may
    /// overlap: they are written one after another, so overlapping rows add up (order the rows so that a
    /// tile's rows do not overlap, or the CPU stalls forwarding one row's store to the next row's load).
    /// </summary>
    public static void Multiply<T>(
        int m, int n, int k,
        ReadOnlySpan<T> a, ReadOnlySpan<int> aRows, ReadOnlySpan<int> aCols,
        ReadOnlySpan<T> b, ReadOnlySpan<int> bRows,
        Span<T> c, ReadOnlySpan<int> cRows,
        ReadOnlySpan<T> mask, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m <= 0 || n <= 0)
        {
            return;
        }

        if (k < 1 || n % Granule<T>() != 0 || (!mask.IsEmpty && mask.Length < n) || aRows.Length < m || aCols.Length < k)
        {
            throw new ArgumentException($"RowGemm: operands do not fit [{m}, {k}]·[{k}, {n}] with granule {Granule<T>()}.");
        }

        CheckRows(n, k, b.Length, bRows, "b");
        CheckRows(n, m, c.Length, cRows, "c");
        var (rowLo, rowHi) = Extent(aRows[..m]);
        var (colLo, colHi) = Extent(aCols[..k]);
        if (rowLo < 0 || colLo < 0 || (long)rowHi + colHi >= a.Length)
        {
            throw new ArgumentException($"RowGemm: A's offsets reach outside its {a.Length} elements.");
        }

        if (Wide<T>())
        {
            Tiles<T, Vector512<T>, Lanes512<T>>(m, n, k, a, aRows, aCols, b, bRows, c, cRows, mask, accumulate);
        }
        else
        {
            Tiles<T, Vector256<T>, Lanes256<T>>(m, n, k, a, aRows, aCols, b, bRows, c, cRows, mask, accumulate);
        }
    }

    /// <summary>
    /// C[i, r] += Σ_{j &lt; n} A[i, j]·(mask[j] ∧ B[r, j]) for i &lt; m, r &lt; rows, with A[i, j] = a[i·lda + j],
    /// B[r, j] = b[bRows[r] + j], C[i, r] = c[i·ldc + r]. A masked column contributes nothing even where B
    /// holds an infinity.
    /// </summary>
    public static void DotsAdd<T>(
        int m, int rows, int n,
        ReadOnlySpan<T> a, int lda,
        ReadOnlySpan<T> b, ReadOnlySpan<int> bRows,
        ReadOnlySpan<T> mask,
        Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m <= 0 || rows <= 0 || n <= 0)
        {
            return;
        }

        CheckRows(n, rows, b.Length, bRows, "b");
        if (n % Granule<T>() != 0 || (long)(m - 1) * lda + n > a.Length || (long)(m - 1) * ldc + rows > c.Length || mask.Length < n)
        {
            throw new ArgumentException($"RowGemm: operands do not fit the dots [{m}, {n}]·[{rows}, {n}]ᵀ with granule {Granule<T>()}.");
        }

        // The tile that computes fewer dots past the edges: 3 × 5 fits LeNet's first layer (6 filters × 25 taps:
        // 150 dots, where 4 × 4 tiles compute 8 × 28 = 224).
        var narrow = Padded(m, 3) * Padded(rows, 5) < Padded(m, 4) * Padded(rows, 4);
        if (Wide<T>() && narrow)
        {
            Dots<T, Vector512<T>, Lanes512<T>, Three>(m, rows, n, a, lda, b, bRows, mask, c, ldc);
        }
        else if (Wide<T>())
        {
            Dots<T, Vector512<T>, Lanes512<T>, Four>(m, rows, n, a, lda, b, bRows, mask, c, ldc);
        }
        else if (narrow)
        {
            Dots<T, Vector256<T>, Lanes256<T>, Three>(m, rows, n, a, lda, b, bRows, mask, c, ldc);
        }
        else
        {
            Dots<T, Vector256<T>, Lanes256<T>, Four>(m, rows, n, a, lda, b, bRows, mask, c, ldc);
        }
    }

    private static long Padded(int count, int tile) => (long)(count + tile - 1) / tile * tile;

    private static (long Lo, long Hi) Extent(ReadOnlySpan<int> offsets)
    {
        long lo = long.MaxValue, hi = long.MinValue;
        foreach (var at in offsets)
        {
            lo = Math.Min(lo, at);
            hi = Math.Max(hi, at);
        }

        return (lo, hi);
    }

    /// <summary>Every row [offset, offset + n) of a table lies inside the buffer (the kernel indexes with unchecked refs).</summary>
    private static void CheckRows(int n, int count, int length, ReadOnlySpan<int> rows, string name)
    {
        if (rows.Length < count)
        {
            throw new ArgumentException($"RowGemm: {name} has {rows.Length} row offsets, {count} needed.");
        }

        var (lo, hi) = Extent(rows[..count]);
        if (lo < 0 || hi + n > length)
        {
            throw new ArgumentException($"RowGemm: a row of {name} (offsets {lo}..{hi}, length {n}) reaches outside its {length} elements.");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tiles<T, TV, TL>(
        int m, int n, int k,
        ReadOnlySpan<T> a, ReadOnlySpan<int> aRows, ReadOnlySpan<int> aCols,
        ReadOnlySpan<T> b, ReadOnlySpan<int> bRows,
        Span<T> c, ReadOnlySpan<int> cRows,
        ReadOnlySpan<T> mask, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TL : struct, ILanes<T, TV>
    {
        var operands = new Operands<T>(a, aCols, b, bRows, c, mask, k, accumulate);
        Span<int> rowAt = stackalloc int[TileRows];
        Span<int> cAt = stackalloc int[TileRows];
        for (var i0 = 0; i0 < m; i0 += TileRows)
        {
            // Rows past m repeat the last row: computed alongside, never stored.
            var rows = Math.Min(TileRows, m - i0);
            for (var t = 0; t < TileRows; t++)
            {
                rowAt[t] = aRows[i0 + Math.Min(t, rows - 1)];
                cAt[t] = cRows[i0 + Math.Min(t, rows - 1)];
            }

            // A tile of at most six real rows (LeNet's first layer: 6 filters) skips the last two rows' FMAs.
            if (rows > 6)
            {
                Blocks<T, TV, TL, EightRows>(in operands, rowAt, cAt, rows, n);
            }
            else
            {
                Blocks<T, TV, TL, SixRows>(in operands, rowAt, cAt, rows, n);
            }
        }
    }

    /// <summary>One tile's rows across all n columns: blocks of two vectors, then one for an odd last vector.</summary>
    private static void Blocks<T, TV, TL, TR>(in Operands<T> o, ReadOnlySpan<int> rowAt, ReadOnlySpan<int> cAt, int rows, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TL : struct, ILanes<T, TV>
        where TR : struct, IBlockRows
    {
        var width = TL.Count;
        var j = 0;
        for (; j + 2 * width <= n; j += 2 * width)
        {
            Block<T, TV, TL, Two, TR>(in o, rowAt, cAt, rows, j);
        }

        if (j < n)
        {
            Block<T, TV, TL, One, TR>(in o, rowAt, cAt, rows, j);
        }
    }

    /// <summary>What every block of one product shares.</summary>
    private readonly ref struct Operands<T>(ReadOnlySpan<T> a, ReadOnlySpan<int> aCols, ReadOnlySpan<T> b, ReadOnlySpan<int> bRows, Span<T> c, ReadOnlySpan<T> mask, int k, bool accumulate)
    {
        public readonly ReadOnlySpan<T> A = a;
        public readonly ReadOnlySpan<int> ACols = aCols;
        public readonly ReadOnlySpan<T> B = b;
        public readonly ReadOnlySpan<int> BRows = bRows;
        public readonly Span<T> C = c;
        public readonly ReadOnlySpan<T> Mask = mask;
        public readonly int K = k;
        public readonly bool Accumulate = accumulate;
    }

    /// <summary>How many vectors a block spans: two, or one for a last block of odd width.</summary>
    private interface IBlockWidth
    {
        static abstract bool Pair { get; }
    }

    private readonly struct Two : IBlockWidth
    {
        public static bool Pair => true;
    }

    private readonly struct One : IBlockWidth
    {
        public static bool Pair => false;
    }

    /// <summary>How many rows a block computes: eight, or six when no more are real.</summary>
    private interface IBlockRows
    {
        static abstract bool Six { get; }
    }

    private readonly struct EightRows : IBlockRows
    {
        public static bool Six => false;
    }

    private readonly struct SixRows : IBlockRows
    {
        public static bool Six => true;
    }

    /// <summary>
    /// C[rows, j .. j + width·(1 or 2)] of the tile whose A rows start at <paramref name="rowAt"/> and C rows
    /// at <paramref name="cAt"/>: the whole contraction in registers, then one store (or add) per row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block<T, TV, TL, TW, TR>(in Operands<T> o, ReadOnlySpan<int> rowAt, ReadOnlySpan<int> cAt, int rows, int j)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TL : struct, ILanes<T, TV>
        where TW : struct, IBlockWidth
        where TR : struct, IBlockRows
    {
        ref var a0 = ref MemoryMarshal.GetReference(o.A);
        ref var b0 = ref MemoryMarshal.GetReference(o.B);
        ref var aCol0 = ref MemoryMarshal.GetReference(o.ACols);
        ref var bRow0 = ref MemoryMarshal.GetReference(o.BRows);
        ref var r0 = ref Unsafe.Add(ref a0, rowAt[0]);
        ref var r1 = ref Unsafe.Add(ref a0, rowAt[1]);
        ref var r2 = ref Unsafe.Add(ref a0, rowAt[2]);
        ref var r3 = ref Unsafe.Add(ref a0, rowAt[3]);
        ref var r4 = ref Unsafe.Add(ref a0, rowAt[4]);
        ref var r5 = ref Unsafe.Add(ref a0, rowAt[5]);
        ref var r6 = ref Unsafe.Add(ref a0, rowAt[6]);
        ref var r7 = ref Unsafe.Add(ref a0, rowAt[7]);
        var width = TL.Count;
        TV c00 = TL.Zero, c01 = TL.Zero, c10 = TL.Zero, c11 = TL.Zero, c20 = TL.Zero, c21 = TL.Zero, c30 = TL.Zero, c31 = TL.Zero;
        TV c40 = TL.Zero, c41 = TL.Zero, c50 = TL.Zero, c51 = TL.Zero, c60 = TL.Zero, c61 = TL.Zero, c70 = TL.Zero, c71 = TL.Zero;
        for (var p = 0; p < o.K; p++)
        {
            ref var bp = ref Unsafe.Add(ref b0, (nint)Unsafe.Add(ref bRow0, p) + j);
            var at = (nint)Unsafe.Add(ref aCol0, p);
            var v0 = TL.Load(ref bp);
            var w0 = TL.Splat(Unsafe.Add(ref r0, at));
            var w1 = TL.Splat(Unsafe.Add(ref r1, at));
            var w2 = TL.Splat(Unsafe.Add(ref r2, at));
            var w3 = TL.Splat(Unsafe.Add(ref r3, at));
            var w4 = TL.Splat(Unsafe.Add(ref r4, at));
            var w5 = TL.Splat(Unsafe.Add(ref r5, at));
            c00 = TL.Fma(w0, v0, c00);
            c10 = TL.Fma(w1, v0, c10);
            c20 = TL.Fma(w2, v0, c20);
            c30 = TL.Fma(w3, v0, c30);
            c40 = TL.Fma(w4, v0, c40);
            c50 = TL.Fma(w5, v0, c50);
            var w6 = TR.Six ? default : TL.Splat(Unsafe.Add(ref r6, at));
            var w7 = TR.Six ? default : TL.Splat(Unsafe.Add(ref r7, at));
            if (!TR.Six)
            {
                c60 = TL.Fma(w6, v0, c60);
                c70 = TL.Fma(w7, v0, c70);
            }

            if (TW.Pair)
            {
                var v1 = TL.Load(ref Unsafe.Add(ref bp, width));
                c01 = TL.Fma(w0, v1, c01);
                c11 = TL.Fma(w1, v1, c11);
                c21 = TL.Fma(w2, v1, c21);
                c31 = TL.Fma(w3, v1, c31);
                c41 = TL.Fma(w4, v1, c41);
                c51 = TL.Fma(w5, v1, c51);
                if (!TR.Six)
                {
                    c61 = TL.Fma(w6, v1, c61);
                    c71 = TL.Fma(w7, v1, c71);
                }
            }
        }

        ref var mask0 = ref MemoryMarshal.GetReference(o.Mask);
        var masked = !o.Mask.IsEmpty;
        var m0 = masked ? TL.Load(ref Unsafe.Add(ref mask0, j)) : TL.AllBits;
        var m1 = masked && TW.Pair ? TL.Load(ref Unsafe.Add(ref mask0, j + width)) : TL.AllBits;
        ref var c0 = ref MemoryMarshal.GetReference(o.C);
        Put<T, TV, TL, TW>(ref c0, cAt[0] + j, width, c00, c01, m0, m1, o.Accumulate);
        if (rows > 1)
        {
            Put<T, TV, TL, TW>(ref c0, cAt[1] + j, width, c10, c11, m0, m1, o.Accumulate);
        }

        if (rows > 2)
        {
            Put<T, TV, TL, TW>(ref c0, cAt[2] + j, width, c20, c21, m0, m1, o.Accumulate);
        }

        if (rows > 3)
        {
            Put<T, TV, TL, TW>(ref c0, cAt[3] + j, width, c30, c31, m0, m1, o.Accumulate);
        }

        if (rows > 4)
        {
            Put<T, TV, TL, TW>(ref c0, cAt[4] + j, width, c40, c41, m0, m1, o.Accumulate);
        }

        if (rows > 5)
        {
            Put<T, TV, TL, TW>(ref c0, cAt[5] + j, width, c50, c51, m0, m1, o.Accumulate);
        }

        if (rows > 6)
        {
            Put<T, TV, TL, TW>(ref c0, cAt[6] + j, width, c60, c61, m0, m1, o.Accumulate);
        }

        if (rows > 7)
        {
            Put<T, TV, TL, TW>(ref c0, cAt[7] + j, width, c70, c71, m0, m1, o.Accumulate);
        }
    }

    /// <summary>Stores (or adds) one or two vectors of one row of C, masked columns dropped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put<T, TV, TL, TW>(ref T c0, int at, int width, TV v0, TV v1, TV m0, TV m1, bool accumulate)
        where T : unmanaged
        where TV : struct
        where TL : struct, ILanes<T, TV>
        where TW : struct, IBlockWidth
    {
        ref var target = ref Unsafe.Add(ref c0, at);
        v0 = TL.And(v0, m0);
        if (accumulate)
        {
            v0 = TL.Add(v0, TL.Load(ref target));
        }

        TL.Store(v0, ref target);
        if (TW.Pair)
        {
            ref var next = ref Unsafe.Add(ref target, width);
            v1 = TL.And(v1, m1);
            if (accumulate)
            {
                v1 = TL.Add(v1, TL.Load(ref next));
            }

            TL.Store(v1, ref next);
        }
    }

    /// <summary>The shape of <see cref="Dots{T, TV, TL, TS}"/>'s tile: 4 rows of A × 4 rows of B, or 3 × 5.</summary>
    private interface IDotsTile
    {
        /// <summary>True: 3 rows of A × 5 of B; false: 4 × 4.</summary>
        static abstract bool Narrow { get; }
    }

    private readonly struct Four : IDotsTile
    {
        public static bool Narrow => false;
    }

    private readonly struct Three : IDotsTile
    {
        public static bool Narrow => true;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dots<T, TV, TL, TS>(
        int m, int rows, int n,
        ReadOnlySpan<T> a, int lda,
        ReadOnlySpan<T> b, ReadOnlySpan<int> bRows,
        ReadOnlySpan<T> mask,
        Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TL : struct, ILanes<T, TV>
        where TS : struct, IDotsTile
    {
        ref var a0 = ref MemoryMarshal.GetReference(a);
        ref var b0 = ref MemoryMarshal.GetReference(b);
        ref var mask0 = ref MemoryMarshal.GetReference(mask);
        var width = TL.Count;
        var tileA = TS.Narrow ? 3 : 4;
        var tileB = TS.Narrow ? 5 : 4;
        for (var i0 = 0; i0 < m; i0 += tileA)
        {
            // Rows past the edge repeat the last one: computed alongside, never stored.
            var ni = Math.Min(tileA, m - i0);
            ref var x0 = ref Unsafe.Add(ref a0, (nint)i0 * lda);
            ref var x1 = ref Unsafe.Add(ref a0, (nint)(i0 + Math.Min(1, ni - 1)) * lda);
            ref var x2 = ref Unsafe.Add(ref a0, (nint)(i0 + Math.Min(2, ni - 1)) * lda);
            ref var x3 = ref Unsafe.Add(ref a0, (nint)(i0 + Math.Min(3, ni - 1)) * lda);
            for (var r0 = 0; r0 < rows; r0 += tileB)
            {
                var nr = Math.Min(tileB, rows - r0);
                ref var y0 = ref Unsafe.Add(ref b0, bRows[r0]);
                ref var y1 = ref Unsafe.Add(ref b0, bRows[r0 + Math.Min(1, nr - 1)]);
                ref var y2 = ref Unsafe.Add(ref b0, bRows[r0 + Math.Min(2, nr - 1)]);
                ref var y3 = ref Unsafe.Add(ref b0, bRows[r0 + Math.Min(3, nr - 1)]);
                ref var y4 = ref Unsafe.Add(ref b0, bRows[r0 + Math.Min(4, nr - 1)]);
                TV s00 = TL.Zero, s01 = TL.Zero, s02 = TL.Zero, s03 = TL.Zero, s04 = TL.Zero, s10 = TL.Zero, s11 = TL.Zero, s12 = TL.Zero, s13 = TL.Zero, s14 = TL.Zero;
                TV s20 = TL.Zero, s21 = TL.Zero, s22 = TL.Zero, s23 = TL.Zero, s24 = TL.Zero, s30 = TL.Zero, s31 = TL.Zero, s32 = TL.Zero, s33 = TL.Zero;
                for (nint j = 0; j < n; j += width)
                {
                    var keep = TL.Load(ref Unsafe.Add(ref mask0, j));
                    var v0 = TL.And(TL.Load(ref Unsafe.Add(ref y0, j)), keep);
                    var v1 = TL.And(TL.Load(ref Unsafe.Add(ref y1, j)), keep);
                    var v2 = TL.And(TL.Load(ref Unsafe.Add(ref y2, j)), keep);
                    var v3 = TL.And(TL.Load(ref Unsafe.Add(ref y3, j)), keep);
                    var v4 = TS.Narrow ? TL.And(TL.Load(ref Unsafe.Add(ref y4, j)), keep) : default;
                    var u = TL.Load(ref Unsafe.Add(ref x0, j));
                    s00 = TL.Fma(u, v0, s00);
                    s01 = TL.Fma(u, v1, s01);
                    s02 = TL.Fma(u, v2, s02);
                    s03 = TL.Fma(u, v3, s03);
                    if (TS.Narrow)
                    {
                        s04 = TL.Fma(u, v4, s04);
                    }

                    u = TL.Load(ref Unsafe.Add(ref x1, j));
                    s10 = TL.Fma(u, v0, s10);
                    s11 = TL.Fma(u, v1, s11);
                    s12 = TL.Fma(u, v2, s12);
                    s13 = TL.Fma(u, v3, s13);
                    if (TS.Narrow)
                    {
                        s14 = TL.Fma(u, v4, s14);
                    }

                    u = TL.Load(ref Unsafe.Add(ref x2, j));
                    s20 = TL.Fma(u, v0, s20);
                    s21 = TL.Fma(u, v1, s21);
                    s22 = TL.Fma(u, v2, s22);
                    s23 = TL.Fma(u, v3, s23);
                    if (TS.Narrow)
                    {
                        s24 = TL.Fma(u, v4, s24);
                    }
                    else
                    {
                        u = TL.Load(ref Unsafe.Add(ref x3, j));
                        s30 = TL.Fma(u, v0, s30);
                        s31 = TL.Fma(u, v1, s31);
                        s32 = TL.Fma(u, v2, s32);
                        s33 = TL.Fma(u, v3, s33);
                    }
                }

                AddRow<T, TV, TL>(c, i0 * ldc + r0, nr, s00, s01, s02, s03, s04);
                if (ni > 1)
                {
                    AddRow<T, TV, TL>(c, (i0 + 1) * ldc + r0, nr, s10, s11, s12, s13, s14);
                }

                if (ni > 2)
                {
                    AddRow<T, TV, TL>(c, (i0 + 2) * ldc + r0, nr, s20, s21, s22, s23, s24);
                }

                if (ni > 3)
                {
                    AddRow<T, TV, TL>(c, (i0 + 3) * ldc + r0, nr, s30, s31, s32, s33, default);
                }
            }
        }
    }

    /// <summary>c[at + t] += Σ lanes of s_t for t &lt; count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddRow<T, TV, TL>(Span<T> c, int at, int count, TV s0, TV s1, TV s2, TV s3, TV s4)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TL : struct, ILanes<T, TV>
    {
        c[at] += TL.Sum(s0);
        if (count > 1)
        {
            c[at + 1] += TL.Sum(s1);
        }

        if (count > 2)
        {
            c[at + 2] += TL.Sum(s2);
        }

        if (count > 3)
        {
            c[at + 3] += TL.Sum(s3);
        }

        if (count > 4)
        {
            c[at + 4] += TL.Sum(s4);
        }
    }
}
