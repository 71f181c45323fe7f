using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Autograd.Kernels;

/// <summary>
/// The float path of <see cref="AttentionKernel"/> where AVX-512 is there and the call is plain (no mask, bias or
/// dropout; the feature dims multiples of 16 with contiguous rows; a cotangent without is copied first): each product of a (batch·head) matrix runs as
/// register tiles straight on the operands' rows, with no packing. Attention's products are small (GPT's are
/// 64 × 64 × 32), and a packed GEMM spends more time packing them, and on half-empty 8 × 32 tiles, than multiplying.
/// A tile is up to 8 rows × 64 columns: C[r, :] (+)= Σ_p A(r, p)·B[p, :], A(r, p) broadcast from any layout, B a
/// row-major operand read a row of vectors at a time.
/// <para>
/// The scores of a block of queries are kept transposed, Sᵀ [keys, queries] = K·Qᵀ (Qᵀ, and gᵀ for dP̃ᵀ = V·gᵀ, are
/// transposed once per block into scratch), so the softmax and its gradient run down the columns with sixteen
/// queries in a vector: every row maximum, sum, log-sum-exp and Σ P ⊙ dP̃ is a vertical operation, with no
/// reduction across lanes and no scalar work per query. Causal blocks skip the keys a query cannot see, in the scores
/// and in every product. The exponentials are <see cref="FloatExp"/>'s.
/// </para>
/// </summary>
internal static class AttentionTiles
{
    private const int W = 16;

    /// <summary>Test and benchmark switch: every call on the general path.</summary>
    internal static bool Disabled { get; set; }

    /// <summary>Test and benchmark switch: the forward never keeps the probabilities, so the backward always recomputes them.</summary>
    internal static bool KeepProbabilitiesDisabled { get; set; }

    // Most floats of kept probabilities per call (4 MiB): the GPT's [12, 4, 64, 64] keeps 192 Ki, an [8, 8, 256, 256] call recomputes.
    private const int KeptProbabilitiesBudget = 1 << 20;

    /// <summary>Whether the plan runs here (float, AVX-512, no mask, bias or dropout, E and Ev multiples of 16, rows contiguous).</summary>
    public static bool Applies<T>(AttentionPlan<T> plan)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> =>
        !Disabled && typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated
        && plan.Mask is null && plan.Bias is null && plan.Keep is null
        && plan.L > 0 && plan.S > 0 && plan.E % W == 0 && plan.Ev % W == 0 && plan.E > 0 && plan.Ev > 0
        && plan.Q.ColStride == 1 && plan.K.ColStride == 1 && plan.V.ColStride == 1;

    /// <summary>Queries per block (a multiple of 16): the block's transposed scores [S, block] stay within 64 KiB.</summary>
    private static int BlockColumns(int l, int s) => Math.Min(Pad(l), Math.Max(W, 16384 / s / W * W));

    private static int Pad(int n) => (n + W - 1) / W * W;

    /// <summary>Scratch floats a worker needs: Qᵀ, gᵀ, the two score blocks, and a block's log-sum-exps.</summary>
    public static int ScratchLength<T>(AttentionPlan<T> plan)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> =>
        (plan.E + plan.Ev + 2 * plan.S + 1) * BlockColumns(plan.L, plan.S);

    /// <summary>
    /// Floats the forward keeps so the backward need not recompute the probabilities (the transposed blocks Pᵀ, [S, block] each,
    /// every matrix's blocks one after another), or 0 when it recomputes them: attention that runs here, and whose
    /// probabilities fit in <see cref="KeptProbabilitiesBudget"/>. Recomputing costs the backward a product (K·Qᵀ) and an
    /// exponential per score; keeping them costs their memory, which at a short context is less than Q's.
    /// </summary>
    public static int KeptProbabilitiesLength<T>(AttentionPlan<T> plan)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        if (KeepProbabilitiesDisabled || !Applies(plan))
        {
            return 0;
        }

        var ld = BlockColumns(plan.L, plan.S);
        var length = (long)plan.Batch * ((plan.L + ld - 1) / ld) * plan.S * ld;
        return length <= KeptProbabilitiesBudget ? (int)length : 0;
    }

    /// <summary>Where matrix b's block of queries from i0 keeps its transposed probabilities, [S, ld].</summary>
    private static int KeptBlock(AttentionPlan<float> plan, int b, int i0, int ld) => ((b * ((plan.L + ld - 1) / ld)) + (i0 / ld)) * plan.S * ld;

    /// <summary>Keys a group of queries ending before <paramref name="r1"/> sees.</summary>
    private static int Visible(bool causal, int s, int r1) => causal ? Math.Min(s, r1) : s;

    /// <summary>
    /// For causal scores: the first column (query, block-local, a multiple of 16) a group of keys from
    /// <paramref name="j0"/> needs, the block starting at query <paramref name="i0"/>.
    /// </summary>
    private static int FirstColumn(bool causal, int j0, int i0) => causal ? Math.Max(0, j0 - i0) / W * W : 0;

    /// <summary>
    /// Matrix b's output and row log-sum-exps; with <paramref name="kept"/> (<see cref="KeptProbabilitiesLength"/> floats) not
    /// empty, each block's scores and probabilities are made there instead of in scratch, and stay for the backward.
    /// </summary>
    public static void Forward(AttentionPlan<float> plan, int b, Span<float> scratch, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> o, AttentionOperand oLayout, Span<float> lse, Span<float> kept)
    {
        int l = plan.L, s = plan.S, e = plan.E, ev = plan.Ev, ld = BlockColumns(l, s);
        var causal = plan.Causal;
        var qt = scratch[..(e * ld)];
        var st = scratch.Slice((e + ev) * ld, s * ld);
        var lseBlock = scratch.Slice((e + ev + 2 * s) * ld, ld);
        ref var kb = ref Unsafe.Add(ref MemoryMarshal.GetReference(k), plan.K.Offsets[b]);
        ref var vb = ref Unsafe.Add(ref MemoryMarshal.GetReference(v), plan.V.Offsets[b]);
        for (var i0 = 0; i0 < l; i0 += ld)
        {
            var w = Math.Min(ld, l - i0);
            var c1 = Visible(causal, s, i0 + w);
            ref var sr = ref kept.IsEmpty ? ref MemoryMarshal.GetReference(st) : ref kept[KeptBlock(plan, b, i0, ld)];
            TransposeRows(q[(plan.Q.Offsets[b] + i0 * plan.Q.RowStride)..], plan.Q.RowStride, w, e, qt, ld);

            // Sᵀ[j, c] = K[j]·Q[i0 + c] (unscaled) for the keys the block sees.
            Product(c1, (j0, _) => (0, e, FirstColumn(causal, j0, i0), Pad(w)), ref kb, plan.K.RowStride, 1, ref MemoryMarshal.GetReference(qt), ld, ref sr, ld, accumulate: false);
            for (var c0 = 0; c0 < w; c0 += W)
            {
                Softmax(ref Unsafe.Add(ref sr, c0), ld, Visible(causal, s, i0 + c0 + W), causal ? i0 + c0 : int.MaxValue, plan.Scale, ref Unsafe.Add(ref MemoryMarshal.GetReference(lseBlock), c0));
            }

            lseBlock[..w].CopyTo(lse.Slice(b * l + i0, w));

            // O[i0 + c] = Σ_j P[c, j]·V[j] over the keys the row's group sees (P[c, j] = Sᵀ[j, c] after the softmax).
            ref var ob = ref Unsafe.Add(ref MemoryMarshal.GetReference(o), oLayout.Offsets[b] + (nint)i0 * oLayout.RowStride);
            Product(w, (c, rows) => (0, Visible(causal, s, i0 + c + rows), 0, ev), ref sr, 1, ld, ref vb, plan.V.RowStride, ref ob, oLayout.RowStride, accumulate: false);
        }
    }

    public static void Backward(
        AttentionPlan<float> plan, int b, Span<float> scratch, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<float> lse, ReadOnlySpan<float> kept, ReadOnlySpan<float> g, AttentionOperand gLayout,
        Span<float> dq, AttentionOperand dqLayout, Span<float> dk, AttentionOperand dkLayout, Span<float> dv, AttentionOperand dvLayout)
    {
        int l = plan.L, s = plan.S, e = plan.E, ev = plan.Ev, ld = BlockColumns(l, s);
        var causal = plan.Causal;
        var qt = scratch[..(e * ld)];
        var gt = scratch.Slice(e * ld, ev * ld);
        var st = scratch.Slice((e + ev) * ld, s * ld);
        var dst = scratch.Slice((e + ev + s) * ld, s * ld);
        var lseBlock = scratch.Slice((e + ev + 2 * s) * ld, ld);
        ref var qb = ref Unsafe.Add(ref MemoryMarshal.GetReference(q), plan.Q.Offsets[b]);
        ref var kb = ref Unsafe.Add(ref MemoryMarshal.GetReference(k), plan.K.Offsets[b]);
        ref var vb = ref Unsafe.Add(ref MemoryMarshal.GetReference(v), plan.V.Offsets[b]);
        ref var gb = ref Unsafe.Add(ref MemoryMarshal.GetReference(g), gLayout.Offsets[b]);
        ref var dsr = ref MemoryMarshal.GetReference(dst);
        ref var dkb = ref dk.IsEmpty ? ref Unsafe.NullRef<float>() : ref Unsafe.Add(ref MemoryMarshal.GetReference(dk), dkLayout.Offsets[b]);
        ref var dvb = ref dv.IsEmpty ? ref Unsafe.NullRef<float>() : ref Unsafe.Add(ref MemoryMarshal.GetReference(dv), dvLayout.Offsets[b]);

        // The last block first: it sees every key any block sees, so it stores dK and dV and the earlier ones add to them.
        var last = (l - 1) / ld * ld;
        var seen = Visible(causal, s, l);
        if (seen < s)
        {
            // Keys no query sees (causal, more keys than queries): their gradients are 0.
            for (var j = seen; j < s; j++)
            {
                if (!dk.IsEmpty)
                {
                    dk.Slice(dkLayout.Offsets[b] + j * dkLayout.RowStride, e).Clear();
                }

                if (!dv.IsEmpty)
                {
                    dv.Slice(dvLayout.Offsets[b] + j * dvLayout.RowStride, ev).Clear();
                }
            }
        }

        for (var i0 = last; i0 >= 0; i0 -= ld)
        {
            var w = Math.Min(ld, l - i0);
            var c1 = Visible(causal, s, i0 + w);
            var first = i0 == last;
            ref var qRows = ref Unsafe.Add(ref qb, (nint)i0 * plan.Q.RowStride);
            ref var gRows = ref Unsafe.Add(ref gb, (nint)i0 * gLayout.RowStride);
            TransposeRows(g[(gLayout.Offsets[b] + i0 * gLayout.RowStride)..], gLayout.RowStride, w, ev, gt, ld);

            // dP̃ᵀ = V·gᵀ over the keys each group of queries sees.
            Product(c1, (j0, _) => (0, ev, FirstColumn(causal, j0, i0), Pad(w)), ref vb, plan.V.RowStride, 1, ref MemoryMarshal.GetReference(gt), ld, ref dsr, ld, accumulate: false);
            ref var sr = ref MemoryMarshal.GetReference(st);
            if (kept.IsEmpty)
            {
                // Sᵀ = K·Qᵀ, and P recomputed from it and the log-sum-exps.
                TransposeRows(q[(plan.Q.Offsets[b] + i0 * plan.Q.RowStride)..], plan.Q.RowStride, w, e, qt, ld);
                lse.Slice(b * l + i0, w).CopyTo(lseBlock);
                lseBlock[w..].Clear();
                Product(c1, (j0, _) => (0, e, FirstColumn(causal, j0, i0), Pad(w)), ref kb, plan.K.RowStride, 1, ref MemoryMarshal.GetReference(qt), ld, ref sr, ld, accumulate: false);
                for (var c0 = 0; c0 < w; c0 += W)
                {
                    Gradient(ref Unsafe.Add(ref sr, c0), ref Unsafe.Add(ref dsr, c0), ld, Visible(causal, s, i0 + c0 + W), causal ? i0 + c0 : int.MaxValue, plan.Scale, Vector512.LoadUnsafe(ref Unsafe.Add(ref MemoryMarshal.GetReference(lseBlock), c0)));
                }
            }
            else
            {
                // P as the forward left it (read only: a second backward reads it again).
                sr = ref MemoryMarshal.GetReference(kept[KeptBlock(plan, b, i0, ld)..]);
                for (var c0 = 0; c0 < w; c0 += W)
                {
                    Gradient(ref Unsafe.Add(ref sr, c0), ref Unsafe.Add(ref dsr, c0), ld, Visible(causal, s, i0 + c0 + W), plan.Scale);
                }
            }

            if (!dq.IsEmpty)
            {
                // dQ[i0 + c] = Σ_j scale·dS[c, j]·K[j] (dS is stored scaled, transposed).
                ref var dqb = ref Unsafe.Add(ref MemoryMarshal.GetReference(dq), dqLayout.Offsets[b] + (nint)i0 * dqLayout.RowStride);
                Product(w, (c, rows) => (0, Visible(causal, s, i0 + c + rows), 0, e), ref dsr, 1, ld, ref kb, plan.K.RowStride, ref dqb, dqLayout.RowStride, accumulate: false);
            }

            // Key j is seen by queries i ≥ j only (causal): its sums over this block start at query j - i0.
            if (!dk.IsEmpty)
            {
                Product(c1, (j0, _) => (causal ? Math.Max(0, j0 - i0) : 0, w, 0, e), ref dsr, ld, 1, ref qRows, plan.Q.RowStride, ref dkb, dkLayout.RowStride, accumulate: !first);
            }

            if (!dv.IsEmpty)
            {
                Product(c1, (j0, _) => (causal ? Math.Max(0, j0 - i0) : 0, w, 0, ev), ref sr, ld, 1, ref gRows, gLayout.RowStride, ref dvb, dvLayout.RowStride, accumulate: !first);
            }
        }
    }

    /// <summary>
    /// C[r, n0:n1] (+)= Σ_{p0 ≤ p &lt; p1} A(r, p)·B[p, n0:n1] for r &lt; m, where A(r, p) = a[r·aRowStride + p·aDepthStride] and
    /// B's rows are ldb apart; for each group of rows [r0, r0 + rows), <paramref name="shape"/>(r0, rows) gives its
    /// depth range and its columns [n0, n1) (multiples of 16).
    /// </summary>
    private static void Product(
        int m, Func<int, int, (int P0, int P1, int N0, int N1)> shape, ref float a, nint aRowStride, nint aDepthStride, ref float b, nint ldb, ref float c, nint ldc, bool accumulate)
    {
        for (var r0 = 0; r0 < m;)
        {
            // Eight rows when the tile is at most two vectors wide (16 accumulators), else four.
            var rows = Math.Min(8, m - r0);
            var (p0, p1, n0, n1) = shape(r0, rows);
            if (n1 - n0 > 2 * W && rows > 4)
            {
                rows = 4;
                (p0, p1, n0, n1) = shape(r0, rows);
            }

            ref var aGroup = ref Unsafe.Add(ref a, r0 * aRowStride);
            ref var cGroup = ref Unsafe.Add(ref c, r0 * ldc);
            for (var j = n0; j < n1; j += 4 * W)
            {
                Tile(rows, Math.Min(4, (n1 - j) / W), p0, p1, ref aGroup, aRowStride, aDepthStride, ref Unsafe.Add(ref b, j), ldb, ref Unsafe.Add(ref cGroup, j), ldc, accumulate);
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
    /// The softmax of sixteen queries' scores, one per lane, held transposed: column vector j (of
    /// <paramref name="keys"/>, ld apart) holds key j's scores. Scores are scaled, key j is −∞ for the lanes
    /// before j − <paramref name="q0"/> (causal: lane t is query q0 + t and sees keys ≤ q0 + t), and each column
    /// becomes its probabilities; <paramref name="lse"/> gets the sixteen log-sum-exps of the scaled scores.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Softmax(ref float col, nint ld, int keys, int q0, float scale, ref float lse)
    {
        var vs = Vector512.Create(scale);
        var vmax = Vector512.Create(float.NegativeInfinity);
        for (var j = 0; j < keys; j++)
        {
            ref var at = ref Unsafe.Add(ref col, j * ld);
            var x = Masked(Vector512.LoadUnsafe(ref at) * vs, j - q0);
            x.StoreUnsafe(ref at);
            vmax = Avx512F.Max(vmax, x);
        }

        var vsum = Vector512<float>.Zero;
        for (var j = 0; j < keys; j++)
        {
            ref var at = ref Unsafe.Add(ref col, j * ld);
            var ex = FloatExp.ExpNonPositive(Vector512.LoadUnsafe(ref at) - vmax);
            ex.StoreUnsafe(ref at);
            vsum += ex;
        }

        var inv = Vector512<float>.One / vsum;
        for (var j = 0; j < keys; j++)
        {
            ref var at = ref Unsafe.Add(ref col, j * ld);
            (Vector512.LoadUnsafe(ref at) * inv).StoreUnsafe(ref at);
        }

        (vmax + Vector512.Log(vsum)).StoreUnsafe(ref lse);
    }

    /// <summary>
    /// Sixteen queries' columns as <see cref="Softmax"/> lays them out: the scores become P = exp(scale·s − lse) (recomputed),
    /// and <paramref name="ds"/>'s dP̃ becomes scale·P ⊙ (dP̃ − d), d = Σ_j P ⊙ dP̃ (= g·O for each query).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Gradient(ref float p, ref float ds, nint ld, int keys, int q0, float scale, Vector512<float> lse)
    {
        var vs = Vector512.Create(scale);
        var d = Vector512<float>.Zero;
        for (var j = 0; j < keys; j++)
        {
            ref var pj = ref Unsafe.Add(ref p, j * ld);
            var x = FloatExp.ExpNonPositive(Masked(Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref pj), vs, -lse), j - q0));
            x.StoreUnsafe(ref pj);
            d = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref Unsafe.Add(ref ds, j * ld)), d);
        }

        Centred(ref p, ref ds, ld, keys, d, vs);
    }

    /// <summary>
    /// <see cref="Gradient(ref float, ref float, nint, int, int, float, Vector512{float})"/> on probabilities kept by the forward
    /// (0 where masked): dP̃ becomes scale·P ⊙ (dP̃ − d), P only read.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Gradient(ref float p, ref float ds, nint ld, int keys, float scale)
    {
        var vs = Vector512.Create(scale);
        var d = Vector512<float>.Zero;
        for (var j = 0; j < keys; j++)
        {
            d = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref Unsafe.Add(ref p, j * ld)), Vector512.LoadUnsafe(ref Unsafe.Add(ref ds, j * ld)), d);
        }

        Centred(ref p, ref ds, ld, keys, d, vs);
    }

    /// <summary>Both <c>Gradient</c>s' last step: dP̃ becomes scale·P ⊙ (dP̃ − d), column by column.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Centred(ref float p, ref float ds, nint ld, int keys, Vector512<float> d, Vector512<float> vs)
    {
        for (var j = 0; j < keys; j++)
        {
            ref var dj = ref Unsafe.Add(ref ds, j * ld);
            (Vector512.LoadUnsafe(ref Unsafe.Add(ref p, j * ld)) * (Vector512.LoadUnsafe(ref dj) - d) * vs).StoreUnsafe(ref dj);
        }
    }

    /// <summary>x with the lanes before <paramref name="first"/> set to −∞ (none when it is 0 or less).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Masked(Vector512<float> x, int first) =>
        first <= 0 ? x : Vector512.ConditionalSelect(Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(first)).AsSingle(), Vector512.Create(float.NegativeInfinity), x);
}
