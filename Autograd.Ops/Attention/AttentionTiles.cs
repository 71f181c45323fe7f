using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Autograd.Kernels;

/// <summary>
/// The float path of <see cref="AttentionKernel"/> where AVX-512 is there and the call is plain (no mask, bias or
/// dropout; the feature dims multiples of 16 with contiguous rows; a cotangent without is copied first): each product of a (batch·head) matrix runs as
/// register tiles straight on the operands' rows, with no packing. Attention's products are small (GPT's are
/// 64 × 64 × 32), and a packed GEMM spends more time packing them, and on half-empty 8 × 32 tiles, than multiplying.
/// A tile is up to 8 rows × 64 columns: C[r, :] (+)= Σ_p A(r, p)·B[p, :], A(r, p) broadcast from any layout (a row of
/// Q, P or dS, or a column of P or dS for dV and dK), B a row-major operand read a row of vectors at a time (Kᵀ and Vᵀ
/// are transposed once per matrix into scratch). Causal matrices skip the keys a group of rows cannot see, in the
/// scores and in every product. The softmax and its gradient are computed in float lanes with <see cref="FloatExp"/>.
/// </summary>
internal static class AttentionTiles
{
    private const int W = 16;

    /// <summary>Test and benchmark switch: every call on the general path.</summary>
    internal static bool Disabled { get; set; }

    /// <summary>Whether the plan runs here (float, AVX-512, no mask, bias or dropout, E and Ev multiples of 16, rows contiguous).</summary>
    public static bool Applies<T>(AttentionPlan<T> plan)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> =>
        !Disabled && typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated
        && plan.Mask is null && plan.Bias is null && plan.Keep is null
        && plan.L > 0 && plan.S > 0 && plan.E % W == 0 && plan.Ev % W == 0 && plan.E > 0 && plan.Ev > 0
        && plan.Q.ColStride == 1 && plan.K.ColStride == 1 && plan.V.ColStride == 1;

    /// <summary>Rows of queries per block: the block's scores [rows, S rounded to 16] stay within 64 KiB.</summary>
    private static int BlockRows(int l, int sPad) => Math.Min(l, Math.Max(8, 16384 / sPad / 8 * 8));

    private static int Pad(int n) => (n + W - 1) / W * W;

    /// <summary>Scratch floats a worker needs: Kᵀ, Vᵀ and two score blocks.</summary>
    public static int ScratchLength<T>(AttentionPlan<T> plan)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var sPad = Pad(plan.S);
        return (plan.E + plan.Ev + 2 * BlockRows(plan.L, sPad)) * sPad;
    }

    /// <summary>Keys a group of rows ending before <paramref name="r1"/> sees.</summary>
    private static int Visible(bool causal, int s, int r1) => causal ? Math.Min(s, r1) : s;

    public static void Forward(AttentionPlan<float> plan, int b, Span<float> scratch, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> o, Span<float> lse)
    {
        int l = plan.L, s = plan.S, e = plan.E, ev = plan.Ev, sPad = Pad(s);
        var rowsPerBlock = BlockRows(l, sPad);
        var kt = scratch[..(e * sPad)];
        var p = scratch.Slice((e + ev) * sPad, rowsPerBlock * sPad);
        TransposeRows(k[plan.K.Offsets[b]..], plan.K.RowStride, s, e, kt, sPad);
        ref var qb = ref Unsafe.Add(ref MemoryMarshal.GetReference(q), plan.Q.Offsets[b]);
        ref var vb = ref Unsafe.Add(ref MemoryMarshal.GetReference(v), plan.V.Offsets[b]);
        for (var r0 = 0; r0 < l; r0 += rowsPerBlock)
        {
            var rows = Math.Min(rowsPerBlock, l - r0);
            var c1 = Visible(plan.Causal, s, r0 + rows);
            Scores(plan, ref Unsafe.Add(ref qb, (nint)r0 * plan.Q.RowStride), plan.Q.RowStride, r0, rows, kt, sPad, p);
            for (var i = 0; i < rows; i++)
            {
                var row = p.Slice(i * sPad, sPad);
                var valid = Visible(plan.Causal, s, r0 + i + 1);
                lse[b * l + r0 + i] = Softmax(row, valid, plan.Scale);
                if (Pad(valid) < c1)
                {
                    row[Pad(valid)..c1].Clear();
                }
            }

            // O[i] = Σ_j P[i, j]·V[j] over the keys the row's group sees.
            ref var pr = ref MemoryMarshal.GetReference(p);
            ref var ob = ref Unsafe.Add(ref MemoryMarshal.GetReference(o), (nint)(b * l + r0) * ev);
            Product(rows, (i0, r) => (0, Visible(plan.Causal, s, r0 + i0 + r), ev), ref pr, sPad, 1, ref vb, plan.V.RowStride, ref ob, ev, accumulate: false);
        }
    }

    public static void Backward(
        AttentionPlan<float> plan, int b, Span<float> scratch, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<float> o, ReadOnlySpan<float> lse, ReadOnlySpan<float> g, AttentionOperand gLayout, Span<float> dq, Span<float> dk, Span<float> dv)
    {
        int l = plan.L, s = plan.S, e = plan.E, ev = plan.Ev, sPad = Pad(s);
        var rowsPerBlock = BlockRows(l, sPad);
        var kt = scratch[..(e * sPad)];
        var vt = scratch.Slice(e * sPad, ev * sPad);
        var p = scratch.Slice((e + ev) * sPad, rowsPerBlock * sPad);
        var ds = scratch.Slice((e + ev + rowsPerBlock) * sPad, rowsPerBlock * sPad);
        TransposeRows(k[plan.K.Offsets[b]..], plan.K.RowStride, s, e, kt, sPad);
        TransposeRows(v[plan.V.Offsets[b]..], plan.V.RowStride, s, ev, vt, sPad);
        ref var qb = ref Unsafe.Add(ref MemoryMarshal.GetReference(q), plan.Q.Offsets[b]);
        ref var kb = ref Unsafe.Add(ref MemoryMarshal.GetReference(k), plan.K.Offsets[b]);
        ref var gb = ref Unsafe.Add(ref MemoryMarshal.GetReference(g), gLayout.Offsets[b]);
        ref var pr = ref MemoryMarshal.GetReference(p);
        ref var dsr = ref MemoryMarshal.GetReference(ds);
        var scale = plan.Scale;
        for (var r0 = 0; r0 < l; r0 += rowsPerBlock)
        {
            var rows = Math.Min(rowsPerBlock, l - r0);
            var c1 = Visible(plan.Causal, s, r0 + rows);
            ref var qRows = ref Unsafe.Add(ref qb, (nint)r0 * plan.Q.RowStride);
            ref var gRows = ref Unsafe.Add(ref gb, (nint)r0 * gLayout.RowStride);
            Scores(plan, ref qRows, plan.Q.RowStride, r0, rows, kt, sPad, p);

            // dP̃ = g·Vᵀ over the keys each group sees.
            Product(rows, (i0, r) => (0, ev, Pad(Visible(plan.Causal, s, r0 + i0 + r))), ref gRows, gLayout.RowStride, 1, ref MemoryMarshal.GetReference(vt), sPad, ref dsr, sPad, accumulate: false);
            for (var i = 0; i < rows; i++)
            {
                var valid = Visible(plan.Causal, s, r0 + i + 1);
                var pRow = p.Slice(i * sPad, Math.Max(c1, Pad(valid)));
                var dRow = ds.Slice(i * sPad, Math.Max(c1, Pad(valid)));
                var d = Dot(g.Slice(gLayout.Offsets[b] + (r0 + i) * gLayout.RowStride, ev), o.Slice((b * l + r0 + i) * ev, ev));
                Gradient(pRow, dRow, valid, scale, lse[b * l + r0 + i], d);
                if (Pad(valid) < c1)
                {
                    pRow[Pad(valid)..].Clear();
                    dRow[Pad(valid)..].Clear();
                }
            }

            if (!dq.IsEmpty)
            {
                // dQ[i] = Σ_j scale·dS[i, j]·K[j] (dS is stored scaled).
                ref var dqb = ref Unsafe.Add(ref MemoryMarshal.GetReference(dq), (nint)(b * l + r0) * e);
                Product(rows, (i0, r) => (0, Visible(plan.Causal, s, r0 + i0 + r), e), ref dsr, sPad, 1, ref kb, plan.K.RowStride, ref dqb, e, accumulate: false);
            }

            // Key j is seen by rows i ≥ j only (causal): the sums over this block's rows start at row j - r0.
            if (!dk.IsEmpty)
            {
                ref var dkb = ref Unsafe.Add(ref MemoryMarshal.GetReference(dk), (nint)b * s * e);
                Product(c1, (j0, _) => (plan.Causal ? Math.Max(0, j0 - r0) : 0, rows, e), ref dsr, 1, sPad, ref qRows, plan.Q.RowStride, ref dkb, e, accumulate: true);
            }

            if (!dv.IsEmpty)
            {
                ref var dvb = ref Unsafe.Add(ref MemoryMarshal.GetReference(dv), (nint)b * s * ev);
                Product(c1, (j0, _) => (plan.Causal ? Math.Max(0, j0 - r0) : 0, rows, ev), ref pr, 1, sPad, ref gRows, gLayout.RowStride, ref dvb, ev, accumulate: true);
            }
        }
    }

    /// <summary>p[i, j] = Q[r0 + i]·Kᵀ[:, j] (unscaled) for the keys each group of rows sees, rounded up to 16.</summary>
    private static void Scores(AttentionPlan<float> plan, ref float qRows, int qRowStride, int r0, int rows, Span<float> kt, int sPad, Span<float> p) =>
        Product(rows, (i0, r) => (0, plan.E, Pad(Visible(plan.Causal, plan.S, r0 + i0 + r))), ref qRows, qRowStride, 1, ref MemoryMarshal.GetReference(kt), sPad, ref MemoryMarshal.GetReference(p), sPad, accumulate: false);

    /// <summary>
    /// C[r, :n] (+)= Σ_{p0 ≤ p &lt; p1} A(r, p)·B[p, :n] for r &lt; m, where A(r, p) = a[r·aRowStride + p·aDepthStride] and
    /// B's rows are ldb apart; for each group of rows [r0, r0 + rows), <paramref name="shape"/>(r0, rows) gives its
    /// depth range and its columns n (a multiple of 16): the keys the group sees.
    /// </summary>
    private static void Product(
        int m, Func<int, int, (int P0, int P1, int N)> shape, ref float a, nint aRowStride, nint aDepthStride, ref float b, nint ldb, ref float c, nint ldc, bool accumulate)
    {
        for (var r0 = 0; r0 < m;)
        {
            // Eight rows when the tile is at most two vectors wide (16 accumulators), else four.
            var rows = Math.Min(8, m - r0);
            var (p0, p1, n) = shape(r0, rows);
            if (n > 2 * W && rows > 4)
            {
                rows = 4;
                (p0, p1, n) = shape(r0, rows);
            }

            ref var aGroup = ref Unsafe.Add(ref a, r0 * aRowStride);
            ref var cGroup = ref Unsafe.Add(ref c, r0 * ldc);
            for (var j = 0; j < n; j += 4 * W)
            {
                Tile(rows, Math.Min(4, (n - j) / W), p0, p1, ref aGroup, aRowStride, aDepthStride, ref Unsafe.Add(ref b, j), ldb, ref Unsafe.Add(ref cGroup, j), ldc, accumulate);
            }

            r0 += rows;
        }
    }

    private static void Tile(int rows, int vecs, int p0, int p1, ref float a, nint ars, nint aps, ref float b, nint ldb, ref float c, nint ldc, bool accumulate)
    {
        if (rows == 8 && vecs == 2)
        {
            Tile<R8, V2>(p0, p1, ref a, ars, aps, ref b, ldb, ref c, ldc, accumulate);
        }
        else if (rows == 8 && vecs == 1)
        {
            Tile<R8, V1>(p0, p1, ref a, ars, aps, ref b, ldb, ref c, ldc, accumulate);
        }
        else if (rows == 4 && vecs == 4)
        {
            Tile<R4, V4>(p0, p1, ref a, ars, aps, ref b, ldb, ref c, ldc, accumulate);
        }
        else if (rows == 4 && vecs == 3)
        {
            Tile<R4, V3>(p0, p1, ref a, ars, aps, ref b, ldb, ref c, ldc, accumulate);
        }
        else if (rows == 4 && vecs == 2)
        {
            Tile<R4, V2>(p0, p1, ref a, ars, aps, ref b, ldb, ref c, ldc, accumulate);
        }
        else if (rows == 4 && vecs == 1)
        {
            Tile<R4, V1>(p0, p1, ref a, ars, aps, ref b, ldb, ref c, ldc, accumulate);
        }
        else
        {
            // A ragged group: row by row.
            for (var r = 0; r < rows; r++)
            {
                ref var ar = ref Unsafe.Add(ref a, r * ars);
                ref var cr = ref Unsafe.Add(ref c, r * ldc);
                switch (vecs)
                {
                    case 1: Tile<R1, V1>(p0, p1, ref ar, ars, aps, ref b, ldb, ref cr, ldc, accumulate); break;
                    case 2: Tile<R1, V2>(p0, p1, ref ar, ars, aps, ref b, ldb, ref cr, ldc, accumulate); break;
                    case 3: Tile<R1, V3>(p0, p1, ref ar, ars, aps, ref b, ldb, ref cr, ldc, accumulate); break;
                    default: Tile<R1, V4>(p0, p1, ref ar, ars, aps, ref b, ldb, ref cr, ldc, accumulate); break;
                }
            }
        }
    }

    private interface ICount
    {
        static abstract int Value { get; }
    }

    private struct R1 : ICount
    {
        public static int Value => 1;
    }

    private struct R4 : ICount
    {
        public static int Value => 4;
    }

    private struct R8 : ICount
    {
        public static int Value => 8;
    }

    private struct V1 : ICount
    {
        public static int Value => 1;
    }

    private struct V2 : ICount
    {
        public static int Value => 2;
    }

    private struct V3 : ICount
    {
        public static int Value => 3;
    }

    private struct V4 : ICount
    {
        public static int Value => 4;
    }

    /// <summary>
    /// The register tile: TR rows × TV vectors of C, Σ over p in [p0, p1) of A(r, p) broadcast times B's row p.
    /// The JIT keeps only the accumulators TR and TV use (at most 16 of the 32 registers).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TR, TV>(int p0, int p1, ref float a, nint ars, nint aps, ref float b, nint ldb, ref float c, nint ldc, bool accumulate)
        where TR : struct, ICount
        where TV : struct, ICount
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
        for (var p = p0; p < p1; p++)
        {
            ref var bp = ref Unsafe.Add(ref b, p * ldb);
            ref var ap = ref Unsafe.Add(ref a, p * aps);
            var b0 = Vector512.LoadUnsafe(ref bp);
            var b1 = TV.Value > 1 ? Vector512.LoadUnsafe(ref bp, W) : default;
            var b2 = TV.Value > 2 ? Vector512.LoadUnsafe(ref bp, 2 * W) : default;
            var b3 = TV.Value > 3 ? Vector512.LoadUnsafe(ref bp, 3 * W) : default;
            var x = Vector512.Create(ap);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00);
            if (TV.Value > 1) { c01 = Vector512.FusedMultiplyAdd(x, b1, c01); }
            if (TV.Value > 2) { c02 = Vector512.FusedMultiplyAdd(x, b2, c02); }
            if (TV.Value > 3) { c03 = Vector512.FusedMultiplyAdd(x, b3, c03); }
            if (TR.Value > 1)
            {
                x = Vector512.Create(Unsafe.Add(ref ap, ars));
                c10 = Vector512.FusedMultiplyAdd(x, b0, c10);
                if (TV.Value > 1) { c11 = Vector512.FusedMultiplyAdd(x, b1, c11); }
                if (TV.Value > 2) { c12 = Vector512.FusedMultiplyAdd(x, b2, c12); }
                if (TV.Value > 3) { c13 = Vector512.FusedMultiplyAdd(x, b3, c13); }
                x = Vector512.Create(Unsafe.Add(ref ap, 2 * ars));
                c20 = Vector512.FusedMultiplyAdd(x, b0, c20);
                if (TV.Value > 1) { c21 = Vector512.FusedMultiplyAdd(x, b1, c21); }
                if (TV.Value > 2) { c22 = Vector512.FusedMultiplyAdd(x, b2, c22); }
                if (TV.Value > 3) { c23 = Vector512.FusedMultiplyAdd(x, b3, c23); }
                x = Vector512.Create(Unsafe.Add(ref ap, 3 * ars));
                c30 = Vector512.FusedMultiplyAdd(x, b0, c30);
                if (TV.Value > 1) { c31 = Vector512.FusedMultiplyAdd(x, b1, c31); }
                if (TV.Value > 2) { c32 = Vector512.FusedMultiplyAdd(x, b2, c32); }
                if (TV.Value > 3) { c33 = Vector512.FusedMultiplyAdd(x, b3, c33); }
            }

            if (TR.Value > 4)
            {
                x = Vector512.Create(Unsafe.Add(ref ap, 4 * ars));
                c40 = Vector512.FusedMultiplyAdd(x, b0, c40);
                if (TV.Value > 1) { c41 = Vector512.FusedMultiplyAdd(x, b1, c41); }
                x = Vector512.Create(Unsafe.Add(ref ap, 5 * ars));
                c50 = Vector512.FusedMultiplyAdd(x, b0, c50);
                if (TV.Value > 1) { c51 = Vector512.FusedMultiplyAdd(x, b1, c51); }
                x = Vector512.Create(Unsafe.Add(ref ap, 6 * ars));
                c60 = Vector512.FusedMultiplyAdd(x, b0, c60);
                if (TV.Value > 1) { c61 = Vector512.FusedMultiplyAdd(x, b1, c61); }
                x = Vector512.Create(Unsafe.Add(ref ap, 7 * ars));
                c70 = Vector512.FusedMultiplyAdd(x, b0, c70);
                if (TV.Value > 1) { c71 = Vector512.FusedMultiplyAdd(x, b1, c71); }
            }
        }

        Put<TV>(ref c, accumulate, c00, c01, c02, c03);
        if (TR.Value > 1)
        {
            Put<TV>(ref Unsafe.Add(ref c, ldc), accumulate, c10, c11, c12, c13);
            Put<TV>(ref Unsafe.Add(ref c, 2 * ldc), accumulate, c20, c21, c22, c23);
            Put<TV>(ref Unsafe.Add(ref c, 3 * ldc), accumulate, c30, c31, c32, c33);
        }

        if (TR.Value > 4)
        {
            Put<TV>(ref Unsafe.Add(ref c, 4 * ldc), accumulate, c40, c41, default, default);
            Put<TV>(ref Unsafe.Add(ref c, 5 * ldc), accumulate, c50, c51, default, default);
            Put<TV>(ref Unsafe.Add(ref c, 6 * ldc), accumulate, c60, c61, default, default);
            Put<TV>(ref Unsafe.Add(ref c, 7 * ldc), accumulate, c70, c71, default, default);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put<TV>(ref float c, bool accumulate, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3)
        where TV : struct, ICount
    {
        if (accumulate)
        {
            v0 += Vector512.LoadUnsafe(ref c);
            if (TV.Value > 1) { v1 += Vector512.LoadUnsafe(ref c, W); }
            if (TV.Value > 2) { v2 += Vector512.LoadUnsafe(ref c, 2 * W); }
            if (TV.Value > 3) { v3 += Vector512.LoadUnsafe(ref c, 3 * W); }
        }

        v0.StoreUnsafe(ref c);
        if (TV.Value > 1) { v1.StoreUnsafe(ref c, W); }
        if (TV.Value > 2) { v2.StoreUnsafe(ref c, 2 * W); }
        if (TV.Value > 3) { v3.StoreUnsafe(ref c, 3 * W); }
    }

    /// <summary>dst[f·ldd + j] = src[j·srcRowStride + f] for j &lt; rows, f &lt; features; columns rows … ldd − 1 zero.</summary>
    private static void TransposeRows(ReadOnlySpan<float> src, int srcRowStride, int rows, int features, Span<float> dst, int ldd)
    {
        ref var s = ref MemoryMarshal.GetReference(src);
        ref var d = ref MemoryMarshal.GetReference(dst);
        var whole = rows / 8 * 8;
        Gemm.TransposeFloat(whole, features, ref s, srcRowStride, ref d, ldd);
        for (var f = 0; f < features; f++)
        {
            for (var j = whole; j < rows; j++)
            {
                Unsafe.Add(ref d, f * ldd + j) = Unsafe.Add(ref s, j * srcRowStride + f);
            }

            dst.Slice(f * ldd + rows, ldd - rows).Clear();
        }
    }

    /// <summary>
    /// row[j] ← softmax(scale·row)[j] for j &lt; valid and 0 for valid ≤ j &lt; valid rounded up to 16 (the row is that
    /// long); returns the log-sum-exp of scale·row[..valid]. Whole vectors only: the lanes past valid are −∞.
    /// </summary>
    private static float Softmax(Span<float> row, int valid, float scale)
    {
        ref var r = ref MemoryMarshal.GetReference(row);
        var vs = Vector512.Create(scale);
        var vmax = Vector512.Create(float.NegativeInfinity);
        for (var j = 0; j < valid; j += W)
        {
            var x = Masked(Vector512.LoadUnsafe(ref r, (nuint)j) * vs, valid - j);
            x.StoreUnsafe(ref r, (nuint)j);
            vmax = Vector512.Max(vmax, x);
        }

        var max = MaxLanes(vmax);
        var vm = Vector512.Create(max);
        var vsum = Vector512<float>.Zero;
        for (var j = 0; j < valid; j += W)
        {
            var ex = FloatExp.ExpNonPositive(Vector512.LoadUnsafe(ref r, (nuint)j) - vm);
            ex.StoreUnsafe(ref r, (nuint)j);
            vsum += ex;
        }

        var sum = Vector512.Sum(vsum);
        var inv = Vector512.Create(1 / sum);
        for (var j = 0; j < valid; j += W)
        {
            (Vector512.LoadUnsafe(ref r, (nuint)j) * inv).StoreUnsafe(ref r, (nuint)j);
        }

        return max + MathF.Log(sum);
    }

    /// <summary>
    /// p ← exp(scale·p − lse) (P recomputed), ds ← scale·P ⊙ (ds − d) (dS from dP̃ = ds and d = Σ g ⊙ O), for j &lt; valid;
    /// both 0 from there to valid rounded up to 16.
    /// </summary>
    private static void Gradient(Span<float> p, Span<float> ds, int valid, float scale, float lse, float d)
    {
        ref var pr = ref MemoryMarshal.GetReference(p);
        ref var dr = ref MemoryMarshal.GetReference(ds);
        var (vs, vl, vd) = (Vector512.Create(scale), Vector512.Create(lse), Vector512.Create(d));
        for (var j = 0; j < valid; j += W)
        {
            var pj = FloatExp.ExpNonPositive(Masked(Vector512.LoadUnsafe(ref pr, (nuint)j) * vs - vl, valid - j));
            pj.StoreUnsafe(ref pr, (nuint)j);
            (pj * (Vector512.LoadUnsafe(ref dr, (nuint)j) - vd) * vs).StoreUnsafe(ref dr, (nuint)j);
        }
    }

    /// <summary>x with the lanes from <paramref name="left"/> on set to −∞ (none when 16 or more are left).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Masked(Vector512<float> x, int left) =>
        Vector512.ConditionalSelect(Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(left)).AsSingle(), x, Vector512.Create(float.NegativeInfinity));

    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var sum = Vector512<float>.Zero;
        for (var j = 0; j < a.Length; j += W)
        {
            sum = Vector512.FusedMultiplyAdd(Vector512.Create(a.Slice(j, W)), Vector512.Create(b.Slice(j, W)), sum);
        }

        return Vector512.Sum(sum);
    }

    private static float MaxLanes(Vector512<float> v)
    {
        var h = Vector256.Max(v.GetLower(), v.GetUpper());
        var q = Vector128.Max(h.GetLower(), h.GetUpper());
        q = Vector128.Max(q, Vector128.Shuffle(q, Vector128.Create(2, 3, 0, 1)));
        q = Vector128.Max(q, Vector128.Shuffle(q, Vector128.Create(1, 0, 3, 2)));
        return q.ToScalar();
    }
}
