using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class ScaledDotProductAttentionExtensions
{
    extension(Tensor)
    {
        /// <summary>
        /// Attention as PyTorch's <c>F.scaled_dot_product_attention</c>: for query [..., L, E], key [..., S, E]
        /// and value [..., S, Ev] (the same leading dims, e.g. [B, H]), O = softmax(scale·Q·Kᵀ + bias, masked)·V of
        /// shape [..., L, Ev], one recorded op.
        /// <list type="bullet">
        /// <item><paramref name="attnMask"/>: the engine's masks hold 0 and 1 (see the comparisons), so this mask is
        /// PyTorch's boolean mask: 1 = the key takes part, 0 = masked (its score −∞); any other value throws.
        /// It broadcasts to [..., L, S] and gets no gradient.</item>
        /// <item><paramref name="attnBias"/>: PyTorch's float mask, added to the scores (0 and −∞ for a mask, or
        /// a learned bias, which gets the gradient Σ_broadcast dS).</item>
        /// <item><paramref name="isCausal"/>: query i sees keys j ≤ i (the top-left triangle, as PyTorch), and the
        /// scores above the diagonal are not computed; not with a mask or bias (as PyTorch).</item>
        /// <item><paramref name="scale"/>: default 1/√E.</item>
        /// <item><paramref name="dropoutP"/>: dropout on the probabilities, as <c>Dropout</c>: one uniform per score in
        /// row-major order over [..., L, S] from <paramref name="generator"/> (default
        /// <see cref="Tensor.DefaultGenerator"/>), kept when ≥ p and scaled by 1/(1 − p); the keep bits are saved.</item>
        /// </list>
        /// A query row whose every key is masked gives 0 (PyTorch's safe softmax), and no gradient.
        /// The output, and the gradients sent to query, key and value, follow their inputs' memory order as PyTorch's flash
        /// attention does: on 4-D head views [B, H, L, E] of a [B, L, H·E] projection (positions outside heads in memory)
        /// they are stored [B, L, H, ·] and viewed per head, so <c>y.Transpose(1, 2).Reshape(B, L, H·Ev)</c> is a view;
        /// otherwise contiguous.
        /// The forward pass keeps Q, K, V, O and each row's log-sum-exp; it keeps the [L, S] probabilities only when they are
        /// small (float on AVX-512 without mask, bias or dropout, at most 4 MiB of them: a short context like the GPT's 64),
        /// and otherwise the backward pass recomputes them: dV = P̃ᵀ·dO, dP = (dO·Vᵀ) ⊙ dropout, dS = P ⊙ (dP − rowsum(dO ⊙ O)),
        /// dQ = scale·dS·K, dK = scale·dSᵀ·Q, dbias = Σ_broadcast dS. A backward pass that records (createGraph)
        /// computes the same formulas with recorded ops instead, so it is differentiable again.
        /// </summary>
        public static Tensor<T> ScaledDotProductAttention<T>(
            Tensor<T> query,
            Tensor<T> key,
            Tensor<T> value,
            Tensor<T>? attnMask = null,
            double dropoutP = 0,
            bool isCausal = false,
            double? scale = null,
            Tensor<T>? attnBias = null,
            Generator? generator = null,
            [CallerFilePath] string callerFile = "",
            [CallerLineNumber] int callerLine = 0)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            ArgumentNullException.ThrowIfNull(query);
            ArgumentNullException.ThrowIfNull(key);
            ArgumentNullException.ThrowIfNull(value);
            var plan = Plan(query, key, value, attnMask, attnBias, dropoutP, isCausal, scale, generator);
            var lead = query.ShapeArray[..^2];
            var result = LikeHeads(query, plan.L, plan.Ev, zero: false);   // every row written (0 for a row with no key)
            var lse = Tensor<T>.Uninitialized([.. lead, plan.L]);
            var record = Tape.ShouldRecord(query, key, value, attnBias);
            var keptLength = record ? AttentionTiles.KeptProbabilitiesLength(plan) : 0;
            var kept = keptLength > 0 ? Tensor<T>.Uninitialized([keptLength]) : null;
            using (var qr = query.Read())
            using (var kr = key.Read())
            using (var vr = value.Read())
            using (var mr = (attnMask ?? query).Read())
            using (var br = (attnBias ?? query).Read())
            using (var ow = result.Write())
            using (var lw = lse.Write())
            using (var pw = (kept ?? lse).Write())
            {
                AttentionKernel.Forward(plan, qr.Memory, kr.Memory, vr.Memory, mr.Memory, br.Memory, Target(result, ow.Memory), lw.Memory, kept is null ? default : pw.Memory);
            }

            if (OpTrace.IsActive)
            {
                OpTrace.Add("ScaledDotProductAttention", result, [query, key, value, attnMask, attnBias], ("isCausal", isCausal), ("scale", scale), ("dropoutP", dropoutP));
            }

            if (record)
            {
                var backward = new Backward<T>(plan, query, key, value, attnMask, attnBias, result, lse, kept);
                var inputs = attnBias is null ? new[] { query, key, value } : [query, key, value, attnBias];
                Tape.Record("ScaledDotProductAttention", new CallSite(callerFile, callerLine), result, inputs, backward.Vjp, query, key, value, result);
            }

            return result;
        }
    }

    /// <summary>
    /// A new [..., rows, cols] tensor with <paramref name="like"/>'s leading dims, in its memory order: for the GPT's head
    /// views, a 4-D [B, H, N, X] whose positions lie outside its heads in memory (a [B, N, H·X] projection viewed per head),
    /// the result is stored as [B, N, H, cols] and viewed as [B, H, N, cols], as PyTorch's flash attention returns its output
    /// and gradients, so the caller's <c>Transpose(1, 2).Reshape(B, N, H·cols)</c> is a view; else contiguous.
    /// </summary>
    internal static Tensor<T> LikeHeads<T>(Tensor<T> like, int rows, int cols, bool zero)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int[] shape = [.. like.ShapeArray[..^2], rows, cols];
        var strides = like.StridesArray;
        if (!ContiguousResults && like.Rank == 4 && like.ShapeArray[1] > 1 && rows > 1 && strides[2] > strides[1])
        {
            var (b, h) = (shape[0], shape[1]);
            int[] stored = [b, rows, h, cols];
            var memory = zero ? Tensor<T>.ZeroFilled(stored) : Tensor<T>.Uninitialized(stored);
            return memory.ViewOf(shape, [rows * h * cols, cols, h * cols, 1], 0);
        }

        return zero ? Tensor<T>.ZeroFilled(shape) : Tensor<T>.Uninitialized(shape);
    }

    /// <summary>Benchmark switch: every result contiguous, whatever the inputs' memory order.</summary>
    internal static bool ContiguousResults { get; set; }

    /// <summary>Where each matrix's rows of an attention output or input are (its last dim contiguous).</summary>
    private static AttentionOperand Layout<T>(Tensor<T> t)
        where T : unmanaged, IFloatingPointIeee754<T> => AttentionOperand.Of(t.ShapeArray[..^2], t.StridesArray, t.Offset);

    private static AttentionTarget<T> Target<T>(Tensor<T> t, Memory<T> memory)
        where T : unmanaged, IFloatingPointIeee754<T> => new(memory, Layout(t));

    private static AttentionPlan<T> Plan<T>(
        Tensor<T> q, Tensor<T> k, Tensor<T> v, Tensor<T>? mask, Tensor<T>? bias, double dropoutP, bool isCausal, double? scale, Generator? generator)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shapes = $"query {ShapeMath.Format(q.ShapeArray)}, key {ShapeMath.Format(k.ShapeArray)}, value {ShapeMath.Format(v.ShapeArray)}";
        const string Op = "ScaledDotProductAttention";
        if (q.Rank < 2 || k.Rank != q.Rank || v.Rank != q.Rank)
        {
            throw new ArgumentException($"{Op}: query, key and value need the same rank, at least 2 ([..., L, E], [..., S, E], [..., S, Ev]) ({shapes}).", q.Rank < 2 ? "query" : k.Rank != q.Rank ? "key" : "value");
        }

        var lead = q.ShapeArray[..^2];
        if (!k.ShapeArray.AsSpan(0, lead.Length).SequenceEqual(lead) || !v.ShapeArray.AsSpan(0, lead.Length).SequenceEqual(lead))
        {
            throw new ArgumentException($"{Op}: query, key and value need the same leading (batch, head) dims ({shapes}).", !k.ShapeArray.AsSpan(0, lead.Length).SequenceEqual(lead) ? "key" : "value");
        }

        int l = q.ShapeArray[^2], e = q.ShapeArray[^1], s = k.ShapeArray[^2], ev = v.ShapeArray[^1];
        if (k.ShapeArray[^1] != e)
        {
            throw new ArgumentException($"{Op}: key has {k.ShapeArray[^1]} features per position but query has {e} ({shapes}).", "key");
        }

        if (v.ShapeArray[^2] != s)
        {
            throw new ArgumentException($"{Op}: value has {v.ShapeArray[^2]} positions but key has {s} ({shapes}).", "value");
        }

        if (!(dropoutP >= 0 && dropoutP <= 1))
        {
            throw new ArgumentException($"{Op}: dropoutP must be in [0, 1], got {dropoutP} ({shapes}).", nameof(dropoutP));
        }

        if (scale is { } sc && double.IsNaN(sc))
        {
            throw new ArgumentException($"{Op}: scale is NaN ({shapes}).", nameof(scale));
        }

        if (isCausal && (mask is not null || bias is not null))
        {
            throw new ArgumentException($"{Op}: isCausal takes no attnMask or attnBias, as PyTorch (put the causal triangle into the mask instead) ({shapes}).", mask is not null ? "attnMask" : "attnBias");
        }

        int[] scores = [.. lead, l, s];
        var batch = ShapeMath.Numel(lead, Op);
        ShapeMath.Numel(scores, Op);
        ShapeMath.Numel([.. lead, l, ev], Op);
        if (mask is not null)
        {
            CheckMask(mask, scores, shapes);
        }

        var keepScale = dropoutP == 1 ? T.Zero : T.One / (T.One - T.CreateChecked(dropoutP));
        return new AttentionPlan<T>
        {
            Batch = batch,
            L = l,
            S = s,
            E = e,
            Ev = ev,
            Scale = T.CreateChecked(scale ?? 1 / Math.Sqrt(e)),
            Causal = isCausal,
            Q = AttentionOperand.Of(lead, q.StridesArray, q.Offset),
            K = AttentionOperand.Of(lead, k.StridesArray, k.Offset),
            V = AttentionOperand.Of(lead, v.StridesArray, v.Offset),
            Mask = mask is null ? null : AttentionOperand.Of(lead, Broadcast(mask, scores, "attnMask", shapes), mask.Offset),
            Bias = bias is null ? null : AttentionOperand.Of(lead, Broadcast(bias, scores, "attnBias", shapes), bias.Offset),
            Keep = dropoutP > 0 ? KeepBits(ShapeMath.Numel(scores), dropoutP, generator ?? Tensor.DefaultGenerator) : null,
            KeepScale = keepScale,
        };
    }

    /// <summary>Strides that read <paramref name="t"/> as broadcast to the scores' shape, or an error naming the argument.</summary>
    private static int[] Broadcast<T>(Tensor<T> t, int[] scores, string name, string shapes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var ok = t.Rank <= scores.Length;
        for (var i = 1; ok && i <= t.Rank; i++)
        {
            ok = t.ShapeArray[^i] == scores[^i] || t.ShapeArray[^i] == 1;
        }

        if (!ok)
        {
            throw new ArgumentException(
                $"ScaledDotProductAttention: {name} of shape {ShapeMath.Format(t.ShapeArray)} does not broadcast to the scores' shape {ShapeMath.Format(scores)} ({shapes}).", name);
        }

        return t.BroadcastStridesTo(scores, "ScaledDotProductAttention");
    }

    /// <summary>The mask holds only 0 and 1: a float mask of 0 and −∞ passed here by mistake would silently invert.</summary>
    private static void CheckMask<T>(Tensor<T> mask, int[] scores, string shapes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Broadcast(mask, scores, "attnMask", shapes);
        using var mr = mask.Read();
        var values = mr.ContiguousElements;
        for (var i = 0; i < values.Length; i++)
        {
            if (values[i] != T.Zero && values[i] != T.One)
            {
                throw new ArgumentException(
                    $"ScaledDotProductAttention: attnMask holds {values[i]} at flat position {i}; it is a 0/1 mask (1: take part, 0: masked, as PyTorch's boolean mask); pass an additive float mask (0 and −∞) as attnBias ({shapes}, attnMask {ShapeMath.Format(mask.ShapeArray)}).",
                    "attnMask");
            }
        }
    }

    /// <summary>Dropout's keep bits: one uniform per score in row-major order, kept when ≥ p (as Dropout draws its mask).</summary>
    private static ulong[] KeepBits(int count, double p, Generator generator)
    {
        var bits = new ulong[(count + 63) / 64];
        lock (generator)
        {
            for (var i = 0; i < count; i++)
            {
                if (generator.NextDouble() >= p)
                {
                    bits[i >> 6] |= 1UL << (i & 63);
                }
            }
        }

        return bits;
    }

    /// <summary>
    /// What the VJP keeps: the plan, the inputs, the output and the row log-sum-exps; the probabilities only where the tiles
    /// run and they are small (<see cref="AttentionTiles.KeptProbabilitiesLength"/>), else the backward recomputes them.
    /// </summary>
    private sealed class Backward<T>(AttentionPlan<T> plan, Tensor<T> q, Tensor<T> k, Tensor<T> v, Tensor<T>? mask, Tensor<T>? bias, Tensor<T> o, Tensor<T> lse, Tensor<T>? kept)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly bool _needQ = q.RequiresGrad;
        private readonly bool _needK = k.RequiresGrad;
        private readonly bool _needV = v.RequiresGrad;
        private readonly bool _needBias = bias?.RequiresGrad ?? false;

        public void Vjp(Tensor<T> g, Span<Tensor<T>?> grads)
        {
            if (Tape.ShouldRecord(g, q, k, v, bias))
            {
                Recorded(g, grads);
                return;
            }

            var lead = q.ShapeArray[..^2];
            // Each gradient in its input's memory order (PyTorch's empty_like); dK and dV are sums over query blocks,
            // zero-filled unless the tiles write every element themselves. dQ: every row written.
            var tiles = AttentionKernel.BackwardOnTiles(plan, _needBias);
            var dq = _needQ ? LikeHeads(q, plan.L, plan.E, zero: false) : null;
            var dk = _needK ? LikeHeads(k, plan.S, plan.E, zero: !tiles) : null;
            var dv = _needV ? LikeHeads(v, plan.S, plan.Ev, zero: !tiles) : null;
            var dScores = _needBias ? Tensor<T>.ZeroFilled([.. lead, plan.L, plan.S]) : null;
            if (tiles && g.StridesArray[^1] != 1)
            {
                g = g.Contiguous();   // the tiles read g by rows: a transposed view, or a Sum's broadcast gradient (filled row by row)
            }

            var gLayout = Layout(g);
            using (var qr = q.Read())
            using (var kr = k.Read())
            using (var vr = v.Read())
            using (var mr = (mask ?? q).Read())
            using (var br = (bias ?? q).Read())
            using (var or = o.Read())
            using (var lr = lse.Read())
            using (var pr = (kept ?? lse).Read())
            using (var gr = g.Read())
            using (var dqw = (dq ?? q).Write())
            using (var dkw = (dk ?? q).Write())
            using (var dvw = (dv ?? q).Write())
            using (var dsw = (dScores ?? q).Write())
            {
                AttentionKernel.Backward(
                    plan, qr.Memory, kr.Memory, vr.Memory, mr.Memory, br.Memory, or.Memory, Layout(o), lr.Memory, kept is null ? default : pr.Memory, gr.Memory, gLayout,
                    dq is null ? default : Target(dq, dqw.Memory),
                    dk is null ? default : Target(dk, dkw.Memory),
                    dv is null ? default : Target(dv, dvw.Memory),
                    dScores is null ? default : dsw.Memory);
            }

            (grads[0], grads[1], grads[2]) = (dq, dk, dv);
            if (dScores is not null)
            {
                using (Tensor.NoGrad())
                {
                    grads[3] = dScores.SumToSize(bias!.ShapeArray);
                }
            }
        }

        /// <summary>The same gradients written with recorded ops (a backward pass with createGraph): differentiable again.</summary>
        private void Recorded(Tensor<T> g, Span<Tensor<T>?> grads)
        {
            var scale = ScalarOperatorExtensions.Scalar<T>(double.CreateChecked(plan.Scale));
            var scores = q.MatMul(k.Transpose(-1, -2)) * scale;
            if (bias is not null)
            {
                scores += bias;
            }

            var masked = Masked();
            if (masked is not null)
            {
                scores = scores.MaskedFill(masked, double.NegativeInfinity);
            }

            // Rows whose every key is masked (lse = +∞): softmax over zeros, then the row zeroed, so no NaN reaches a gradient.
            var dead = lse.Detach().Eq(double.PositiveInfinity).Unsqueeze(-1);
            var p = scores.MaskedFill(dead, 0).Softmax(-1).MaskedFill(dead, 0);
            var drop = Dropout();
            var kept = drop is null ? p : p * drop;
            if (_needV)
            {
                grads[2] = kept.Transpose(-1, -2).MatMul(g);
            }

            if (!_needQ && !_needK && !_needBias)
            {
                return;
            }

            var dp = g.MatMul(v.Transpose(-1, -2));
            if (drop is not null)
            {
                dp *= drop;
            }

            var ds = p * (dp - (dp * p).Sum(-1, keepDim: true));
            if (_needQ)
            {
                grads[0] = ds.MatMul(k) * scale;
            }

            if (_needK)
            {
                grads[1] = ds.Transpose(-1, -2).MatMul(q) * scale;
            }

            if (_needBias)
            {
                grads[3] = ds.SumToSize(bias!.ShapeArray);
            }
        }

        /// <summary>1 where a score is masked (the mask's 0s, or above the causal diagonal), or null when none can be.</summary>
        private Tensor<T>? Masked()
        {
            using (Tensor.NoGrad())
            {
                if (mask is not null)
                {
                    return mask.Eq(0);
                }

                return plan.Causal ? Tensor.Ones<T>(plan.L, plan.S).Triu(1) : null;
            }
        }

        /// <summary>Dropout's multipliers (0 or 1/(1 − p)) as a constant tensor of the scores' shape, or null without dropout.</summary>
        private Tensor<T>? Dropout()
        {
            if (plan.Keep is not { } keep)
            {
                return null;
            }

            var result = Tensor<T>.Uninitialized([.. q.ShapeArray[..^2], plan.L, plan.S]);
            using (var w = result.Write())
            {
                var data = w.Elements;
                for (var i = 0; i < data.Length; i++)
                {
                    data[i] = (keep[i >> 6] & (1UL << (i & 63))) != 0 ? plan.KeepScale : T.Zero;
                }
            }

            return result;
        }
    }
}
