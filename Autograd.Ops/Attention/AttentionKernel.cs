using System.Buffers;
using System.Diagnostics;
using System.Numerics;
using System.Runtime.InteropServices;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd.Kernels;

/// <summary>
/// One strided operand of attention, a matrix per (batch·head) b: element [i, j] of matrix b is at
/// Offsets[b] + i·RowStride + j·ColStride of the operand's memory (broadcast dims have stride 0).
/// </summary>
internal sealed record AttentionOperand(int[] Offsets, int RowStride, int ColStride)
{
    /// <summary>The layout of <paramref name="strides"/> (leading dims, then the matrix's two) over the batch shape <paramref name="lead"/>.</summary>
    public static AttentionOperand Of(int[] lead, ReadOnlySpan<int> strides, int offset)
    {
        var offsets = new int[Math.Max(ShapeMath.Numel(lead), 0)];
        var index = new int[lead.Length];
        for (var b = 0; b < offsets.Length; b++)
        {
            var at = offset;
            for (var d = 0; d < lead.Length; d++)
            {
                at += index[d] * strides[d];
            }

            offsets[b] = at;
            for (var d = lead.Length - 1; d >= 0 && ++index[d] == lead[d]; d--)
            {
                index[d] = 0;
            }
        }

        return new AttentionOperand(offsets, strides[^2], strides[^1]);
    }
}

/// <summary>
/// An output of attention (O, or dQ, dK, dV): its memory and where each matrix's rows are, row r of matrix b at
/// Layout.Offsets[b] + r·Layout.RowStride with its elements contiguous (a [B, H, N, X] result stored as [B, N, H, X], as
/// the GPT's head views lay out their inputs, or contiguous). Empty memory: not wanted.
/// </summary>
internal readonly record struct AttentionTarget<T>(Memory<T> Memory, AttentionOperand Layout)
{
    public bool IsEmpty => Memory.IsEmpty;

    public int RowStride => Layout.RowStride;

    /// <summary>Where row r of matrix b starts.</summary>
    public int Row(int b, int r) => Layout.Offsets[b] + r * Layout.RowStride;

    /// <summary>Sets rows [r0, r0 + rows) of matrix b, <paramref name="width"/> elements each, to zero.</summary>
    public void ClearRows(int b, int r0, int rows, int width)
    {
        var span = Memory.Span;
        for (var r = r0; r < r0 + rows; r++)
        {
            span.Slice(Row(b, r), width).Clear();
        }
    }
}

/// <summary>
/// Everything about one attention call but the memory: sizes (Batch matrices of L queries and S keys,
/// E features, Ev value features), the operands' layouts, the scale, the masking and the dropout bits.
/// </summary>
internal sealed class AttentionPlan<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public required int Batch { get; init; }

    public required int L { get; init; }

    public required int S { get; init; }

    public required int E { get; init; }

    public required int Ev { get; init; }

    public required T Scale { get; init; }

    public required bool Causal { get; init; }

    public required AttentionOperand Q { get; init; }

    public required AttentionOperand K { get; init; }

    public required AttentionOperand V { get; init; }

    /// <summary>The 0/1 mask's layout over [Batch, L, S] (0: masked), or null.</summary>
    public AttentionOperand? Mask { get; init; }

    /// <summary>The additive bias's layout over [Batch, L, S], or null.</summary>
    public AttentionOperand? Bias { get; init; }

    /// <summary>Dropout's keep bits over [Batch, L, S] in row-major order (bit set: kept), or null.</summary>
    public ulong[]? Keep { get; init; }

    /// <summary>What a kept probability is multiplied by: 1/(1 − p) (0 for p = 1).</summary>
    public T KeepScale { get; init; } = T.One;

    /// <summary>Query rows per block: a block's scores are [BlockRows, S] of scratch, and causal blocks stop at their last row's diagonal.</summary>
    public int BlockRows => AttentionKernel.BlockRowsOverride > 0
        ? AttentionKernel.BlockRowsOverride
        : Math.Min(Causal ? AttentionKernel.CausalBlockRows : Math.Max(AttentionKernel.ScratchElements / Math.Max(S, 1), AttentionKernel.CausalBlockRows), Math.Max(L, 1));

    /// <summary>Keys that rows r0 … r1 − 1 can see: all of them, or (causal) those up to the last row's diagonal.</summary>
    public int Columns(int r1) => Causal ? Math.Min(S, r1) : S;

    /// <summary>Multiply-adds of the forward pass (two products per block).</summary>
    public long Work => (long)Batch * L * S * (E + Ev);
}

/// <summary>
/// Fused scaled dot-product attention: per (batch·head) matrix and block of query rows, the scores
/// S = scale·Q·Kᵀ (+ bias, −∞ where masked) for the keys the block can see, a row softmax kept as its
/// log-sum-exp, and O = P·V, through <see cref="Gemm"/> over the strided operands; the backward pass
/// recomputes P from the log-sum-exp instead of keeping it (FlashAttention's recomputation, without its
/// tiling over keys: a block holds its rows' scores for every visible key).
/// </summary>
internal static class AttentionKernel
{
    /// <summary>Query rows per causal block: blocks end at their diagonal, so the scores past it are not computed (but within the block).</summary>
    internal const int CausalBlockRows = 16;

    /// <summary>Elements of one block's score scratch (256 KiB of doubles), which bounds the rows of a non-causal block.</summary>
    internal const int ScratchElements = 1 << 15;

    // Multiply-adds above which the matrices are spread over threads (each product then on one thread).
    private const long ParallelWork = 1L << 21;

    /// <summary>Test hook: query rows per block for every call (0: the plan's choice), to run many blocks on small inputs.</summary>
    internal static int BlockRowsOverride { get; set; }

    /// <summary>
    /// O [Batch, L, Ev] (rows where <paramref name="o"/>'s layout puts them) and the log-sum-exp of each score row, lse [Batch, L] (+∞ for a row
    /// whose every key is masked: its output row is 0, as PyTorch's safe softmax).
    /// </summary>
    /// <remarks>
    /// <paramref name="kept"/>: empty, or <see cref="AttentionTiles.KeptProbabilitiesLength"/> elements where the tiles leave the
    /// probabilities for <see cref="Backward{T}"/>.
    /// </remarks>
    public static void Forward<T>(
        AttentionPlan<T> plan, ReadOnlyMemory<T> q, ReadOnlyMemory<T> k, ReadOnlyMemory<T> v, ReadOnlyMemory<T> mask, ReadOnlyMemory<T> bias, AttentionTarget<T> o, Memory<T> lse, Memory<T> kept = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (AttentionTiles.Applies(plan))
        {
            var fp = (AttentionPlan<float>)(object)plan;
            ForEachMatrix(plan, () => ArrayPool<T>.Shared.Rent(AttentionTiles.ScratchLength(plan)), (b, scratch) =>
                AttentionTiles.Forward(fp, b, Floats(scratch), Floats(q), Floats(k), Floats(v), Floats(o.Memory), o.Layout, Floats(lse), Floats(kept)),
                scratch => ArrayPool<T>.Shared.Return(scratch));
            return;
        }

        var rowsPerBlock = plan.BlockRows;
        ForEachMatrix(plan, () => ArrayPool<T>.Shared.Rent(rowsPerBlock * plan.S), (b, scores) =>
        {
            for (var r0 = 0; r0 < plan.L; r0 += rowsPerBlock)
            {
                var rows = Math.Min(rowsPerBlock, plan.L - r0);
                var c1 = plan.Columns(r0 + rows);
                var lseRows = lse.Span.Slice(b * plan.L + r0, rows);
                if (c1 == 0)
                {
                    lseRows.Fill(T.PositiveInfinity);
                    o.ClearRows(b, r0, rows, plan.Ev);
                    continue;
                }

                Scores(plan, b, r0, rows, c1, q, k, mask, bias, scores);
                for (var i = 0; i < rows; i++)
                {
                    var row = scores.AsSpan(i * c1, c1);
                    lseRows[i] = Softmax(row);
                    Drop(plan, b, r0 + i, row, row);
                }

                Gemm.Multiply(rows, plan.Ev, c1, scores, 0, c1, 1, v, plan.V.Offsets[b], plan.V.RowStride, plan.V.ColStride, o.Memory, o.Row(b, r0), o.RowStride, accumulate: false);
            }
        }, scores => ArrayPool<T>.Shared.Return(scores));
    }

    /// <summary>
    /// Whether <see cref="Backward{T}"/> runs on the register tiles: they write every element of dK and dV (no zero fill)
    /// and read g by contiguous rows (the caller copies a cotangent whose last stride is not 1).
    /// </summary>
    public static bool BackwardOnTiles<T>(AttentionPlan<T> plan, bool wantsScores)
        where T : unmanaged, IFloatingPointIeee754<T> => !wantsScores && AttentionTiles.Applies(plan);

    /// <summary>
    /// The gradients of attention for the cotangent g (layout <paramref name="gLayout"/>): dQ, dK, dV
    /// (rows where their targets' layouts put them; dK and dV zero-filled by the caller, being sums over blocks, unless
    /// <see cref="BackwardOnTiles"/>) where wanted (empty memory: not wanted), O read through <paramref name="oLayout"/>, and dS, the gradient of the scores before scaling, into <paramref name="dScores"/>
    /// [Batch, L, S] (zero-filled by the caller) when the bias wants it. P = exp(S − lse) is recomputed, unless the
    /// forward left it in <paramref name="kept"/> (the tiles, at a short context: <see cref="AttentionTiles.KeptProbabilitiesLength"/>);
    /// dP̃ = g·Vᵀ, dP = dP̃ ⊙ dropout, dS = P ⊙ (dP − Σ_row g ⊙ O), dQ = scale·dS·K, dK = scale·dSᵀ·Q, dV = P̃ᵀ·g.
    /// </summary>
    public static void Backward<T>(
        AttentionPlan<T> plan, ReadOnlyMemory<T> q, ReadOnlyMemory<T> k, ReadOnlyMemory<T> v, ReadOnlyMemory<T> mask, ReadOnlyMemory<T> bias,
        ReadOnlyMemory<T> o, AttentionOperand oLayout, ReadOnlyMemory<T> lse, ReadOnlyMemory<T> kept, ReadOnlyMemory<T> g, AttentionOperand gLayout,
        AttentionTarget<T> dq, AttentionTarget<T> dk, AttentionTarget<T> dv, Memory<T> dScores)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (BackwardOnTiles(plan, wantsScores: !dScores.IsEmpty))
        {
            Debug.Assert(gLayout.ColStride == 1, "the tiles read g by contiguous rows; the caller copies a cotangent whose rows are not");
            var fp = (AttentionPlan<float>)(object)plan;
            ForEachMatrix(plan, () => ArrayPool<T>.Shared.Rent(AttentionTiles.ScratchLength(plan)), (b, scratch) =>
                AttentionTiles.Backward(fp, b, Floats(scratch), Floats(q), Floats(k), Floats(v), Floats(lse), Floats(kept), Floats(g), gLayout, Floats(dq.Memory), dq.Layout, Floats(dk.Memory), dk.Layout, Floats(dv.Memory), dv.Layout),
                scratch => ArrayPool<T>.Shared.Return(scratch));
            return;
        }

        var rowsPerBlock = plan.BlockRows;
        var needScores = !dq.IsEmpty || !dk.IsEmpty || !dScores.IsEmpty;
        ForEachMatrix(plan, () => ArrayPool<T>.Shared.Rent(2 * rowsPerBlock * plan.S), (b, scratch) =>
        {
            for (var r0 = 0; r0 < plan.L; r0 += rowsPerBlock)
            {
                var rows = Math.Min(rowsPerBlock, plan.L - r0);
                var c1 = plan.Columns(r0 + rows);
                var gAt = gLayout.Offsets[b] + r0 * gLayout.RowStride;
                if (c1 == 0)
                {
                    if (!dq.IsEmpty)
                    {
                        dq.ClearRows(b, r0, rows, plan.E);
                    }

                    continue;
                }

                // p: P, then P̃ = P ⊙ dropout; ds: dP̃, then dS, then scale·dS.
                var p = scratch.AsMemory(0, rows * c1);
                var ds = scratch.AsMemory(rows * c1, rows * c1);
                Scores(plan, b, r0, rows, c1, q, k, mask, bias, p);
                if (needScores)
                {
                    Gemm.Multiply(rows, c1, plan.Ev, g, gAt, gLayout.RowStride, gLayout.ColStride, v, plan.V.Offsets[b], plan.V.ColStride, plan.V.RowStride, ds, 0, c1, accumulate: false);
                }

                for (var i = 0; i < rows; i++)
                {
                    var row = p.Span.Slice(i * c1, c1);
                    var rowLse = lse.Span[b * plan.L + r0 + i];
                    TP.Subtract(row, rowLse, row);
                    TP.Exp(row, row);
                    if (needScores)
                    {
                        var dRow = ds.Span.Slice(i * c1, c1);
                        Drop(plan, b, r0 + i, dRow, dRow);
                        var d = Dot(g.Span, gAt + i * gLayout.RowStride, gLayout.ColStride, o.Span.Slice(oLayout.Offsets[b] + (r0 + i) * oLayout.RowStride, plan.Ev));
                        TP.Subtract(dRow, d, dRow);
                        TP.Multiply(dRow, row, dRow);
                        if (!dScores.IsEmpty)
                        {
                            dRow.CopyTo(dScores.Span.Slice((b * plan.L + r0 + i) * plan.S, c1));
                        }

                        TP.Multiply(dRow, plan.Scale, dRow);
                    }

                    Drop(plan, b, r0 + i, row, row);
                }

                if (!dv.IsEmpty)
                {
                    Gemm.Multiply(c1, plan.Ev, rows, p, 0, 1, c1, g, gAt, gLayout.RowStride, gLayout.ColStride, dv.Memory, dv.Row(b, 0), dv.RowStride, accumulate: true);
                }

                if (!dq.IsEmpty)
                {
                    Gemm.Multiply(rows, plan.E, c1, ds, 0, c1, 1, k, plan.K.Offsets[b], plan.K.RowStride, plan.K.ColStride, dq.Memory, dq.Row(b, r0), dq.RowStride, accumulate: false);
                }

                if (!dk.IsEmpty)
                {
                    var qAt = plan.Q.Offsets[b] + r0 * plan.Q.RowStride;
                    Gemm.Multiply(c1, plan.E, rows, ds, 0, 1, c1, q, qAt, plan.Q.RowStride, plan.Q.ColStride, dk.Memory, dk.Row(b, 0), dk.RowStride, accumulate: true);
                }
            }
        }, scratch => ArrayPool<T>.Shared.Return(scratch));
    }

    private static Span<float> Floats<T>(T[] a)
        where T : unmanaged => MemoryMarshal.Cast<T, float>(a.AsSpan());

    private static Span<float> Floats<T>(Memory<T> m)
        where T : unmanaged => MemoryMarshal.Cast<T, float>(m.Span);

    private static ReadOnlySpan<float> Floats<T>(ReadOnlyMemory<T> m)
        where T : unmanaged => MemoryMarshal.Cast<T, float>(m.Span);

    /// <summary>
    /// scores[i, j] (row stride c1) = scale·Q[r0 + i]·K[j] + bias[r0 + i, j] for j &lt; c1, −∞ where the mask
    /// holds 0 or (causal) j &gt; r0 + i.
    /// </summary>
    private static void Scores<T>(
        AttentionPlan<T> plan, int b, int r0, int rows, int c1, ReadOnlyMemory<T> q, ReadOnlyMemory<T> k, ReadOnlyMemory<T> mask, ReadOnlyMemory<T> bias, Memory<T> scores)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Gemm.Multiply(rows, c1, plan.E, q, plan.Q.Offsets[b] + r0 * plan.Q.RowStride, plan.Q.RowStride, plan.Q.ColStride, k, plan.K.Offsets[b], plan.K.ColStride, plan.K.RowStride, scores, 0, c1, accumulate: false);
        var s = scores.Span;
        for (var i = 0; i < rows; i++)
        {
            var row = s.Slice(i * c1, c1);
            TP.Multiply(row, plan.Scale, row);
            if (plan.Bias is { } bl)
            {
                AddRow(row, bias.Span, bl.Offsets[b] + (r0 + i) * bl.RowStride, bl.ColStride);
            }

            if (plan.Mask is { } ml)
            {
                var m = mask.Span;
                var at = ml.Offsets[b] + (r0 + i) * ml.RowStride;
                for (var j = 0; j < c1; j++)
                {
                    if (m[at + j * ml.ColStride] == T.Zero)
                    {
                        row[j] = T.NegativeInfinity;
                    }
                }
            }

            if (plan.Causal && r0 + i + 1 < c1)
            {
                row[(r0 + i + 1)..].Fill(T.NegativeInfinity);
            }
        }
    }

    /// <summary>The row's softmax in place; returns its log-sum-exp (+∞, with the row cleared, when every score is −∞).</summary>
    private static T Softmax<T>(Span<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var max = TP.Max<T>(row);
        if (max == T.NegativeInfinity)
        {
            row.Clear();
            return T.PositiveInfinity;
        }

        TP.Subtract(row, max, row);
        TP.Exp(row, row);
        var sum = TP.Sum<T>(row);
        TP.Divide(row, sum, row);
        return max + T.Log(sum);
    }

    /// <summary>to = from ⊙ dropout's multipliers for row <paramref name="i"/> of matrix b (a copy without dropout).</summary>
    private static void Drop<T>(AttentionPlan<T> plan, int b, int i, ReadOnlySpan<T> from, Span<T> to)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (plan.Keep is not { } keep)
        {
            from.CopyTo(to);
            return;
        }

        var bit = ((long)b * plan.L + i) * plan.S;
        for (var j = 0; j < from.Length; j++, bit++)
        {
            to[j] = (keep[bit >> 6] & (1UL << (int)(bit & 63))) != 0 ? from[j] * plan.KeepScale : T.Zero;
        }
    }

    private static void AddRow<T>(Span<T> row, ReadOnlySpan<T> src, int at, int stride)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (stride == 1)
        {
            TP.Add(row, src.Slice(at, row.Length), row);
            return;
        }

        for (var j = 0; j < row.Length; j++)
        {
            row[j] += src[at + j * stride];
        }
    }

    private static T Dot<T>(ReadOnlySpan<T> a, int at, int stride, ReadOnlySpan<T> b)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (stride == 1)
        {
            return TP.Dot(a.Slice(at, b.Length), b);
        }

        var sum = T.Zero;
        for (var j = 0; j < b.Length; j++)
        {
            sum += a[at + j * stride] * b[j];
        }

        return sum;
    }

    /// <summary>
    /// body(b, scratch) for every matrix b, each worker with its own scratch: spread over threads (each
    /// product then on its worker alone) when there are several matrices and enough work, else in turn
    /// on the calling thread (where Gemm may split each product). A matrix is always computed whole by
    /// one body call, and Gemm's results do not depend on its thread count, so neither do these.
    /// </summary>
    private static void ForEachMatrix<T>(AttentionPlan<T> plan, Func<T[]> init, Action<int, T[]> body, Action<T[]> finish)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var threads = Math.Min(Gemm.MaxThreads, plan.Batch);
        if (threads > 1 && !Gemm.OneThread && plan.Work >= ParallelWork)
        {
            Gemm.ClaimEachOnOneThread(plan.Batch, threads, init, body, finish);
            return;
        }

        var local = init();
        try
        {
            for (var b = 0; b < plan.Batch; b++)
            {
                body(b, local);
            }
        }
        finally
        {
            finish(local);
        }
    }
}
