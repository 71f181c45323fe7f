using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class MatMulExtensions
{
    extension<T>(Tensor<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Matrix product with PyTorch's matmul rules: 1-D·1-D is a dot product, a 1-D operand is
        /// promoted to a row (left) or column (right) matrix and the added dimension removed again,
        /// and leading (batch) dimensions broadcast. Strided operands (transposed, sliced) are read in
        /// place by the GEMM. VJP (seed 000): dA = Σ_broadcast dC·Bᵀ, dB = Σ_broadcast Aᵀ·dC.
        /// </summary>
        public Tensor<T> MatMul(Tensor<T> b, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(a);
            ArgumentNullException.ThrowIfNull(b);
            if (a.Rank == 0 || b.Rank == 0)
            {
                throw new ArgumentException($"MatMul: both operands need at least one dimension (a {ShapeMath.Format(a.ShapeArray)}, b {ShapeMath.Format(b.ShapeArray)}).", a.Rank == 0 ? "a" : nameof(b));
            }

            var a2 = a.Rank == 1 ? a.ViewOf([1, a.ShapeArray[0]], [0, a.StridesArray[0]], a.Offset) : a;
            var b2 = b.Rank == 1 ? b.ViewOf([b.ShapeArray[0], 1], [b.StridesArray[0], 0], b.Offset) : b;
            var m = a2.ShapeArray[^2];
            var k = a2.ShapeArray[^1];
            var n = b2.ShapeArray[^1];
            if (b2.ShapeArray[^2] != k)
            {
                throw new ArgumentException(
                    $"MatMul: a has {k} columns but b has {b2.ShapeArray[^2]} rows (a {ShapeMath.Format(a.ShapeArray)}, b {ShapeMath.Format(b.ShapeArray)}).",
                    nameof(b));
            }

            var batch = ShapeMath.Broadcast(a2.ShapeArray[..^2], b2.ShapeArray[..^2], $"MatMul: the batch dimensions of a {ShapeMath.Format(a.ShapeArray)} and b {ShapeMath.Format(b.ShapeArray)} do not broadcast");
            int[] out2 = [.. batch, m, n];
            ShapeMath.Numel(out2, "MatMul");
            var aStrides = a2.BroadcastStridesTo([.. batch, m, k], "MatMul");
            var bStrides = b2.BroadcastStridesTo([.. batch, k, n], "MatMul");
            if (a2.ShapeArray[^2] == 1)
            {
                aStrides[^2] = 0;
            }

            var outShape = new List<int>(batch);
            if (a.Rank > 1)
            {
                outShape.Add(m);
            }

            if (b.Rank > 1)
            {
                outShape.Add(n);
            }

            // Every element is written by the GEMMs (a k = 0 product clears its block).
            var result = Tensor<T>.Uninitialized([.. outShape]);
            Multiply(batch, m, n, k, a2, aStrides, b2, bStrides, result);
            if (OpTrace.IsActive)
            {
                OpTrace.Add("MatMul", result, [a, b]);
            }

            if (Tape.ShouldRecord(a, b))
            {
                var (needA, needB) = (a.RequiresGrad, b.RequiresGrad);
                Tape.Record("MatMul", new CallSite(callerFile, callerLine), result, [a, b], (g, grads) =>
                {
                    // Work in the promoted shapes, then undo the promotion: dA2 = dC2·B2ᵀ, dB2 = A2ᵀ·dC2.
                    var ta = a.Rank == 1 ? a.Unsqueeze(0) : a;
                    var tb = b.Rank == 1 ? b.Unsqueeze(-1) : b;
                    var g2 = g.Reshape(out2);
                    if (needA)
                    {
                        grads[0] = g2.MatMul(tb.Transpose(-1, -2)).SumToSize(ta.ShapeArray).Reshape(a.ShapeArray);
                    }

                    if (needB)
                    {
                        grads[1] = b.Rank == 2 && a.Rank > 2
                            ? SharedMatrixGradient(a, b, g2)
                            : ta.Transpose(-1, -2).MatMul(g2).SumToSize(tb.ShapeArray).Reshape(b.ShapeArray);
                    }
                },
                needB ? a : null,
                needA ? b : null);
            }

            return result;
        }
    }

    /// <summary>
    /// dB for a matrix B shared by every batch element of A (a Linear layer over [batch..., m, k]):
    /// Σ_batch A_iᵀ·dC_i is one product over the folded rows, A[batch·m, k]ᵀ·dC[batch·m, n], a single GEMM with
    /// k = batch·m instead of one small GEMM per batch element and a sum over them. When B is a transposed view
    /// (a Linear's Wᵀ), the product is formed as (dCᵀ·A)ᵀ so the gradient already has W's layout and its
    /// accumulation into W.Grad is a contiguous pass, not a strided transpose. Recorded ops, so it has its own VJP.
    /// </summary>
    private static Tensor<T> SharedMatrixGradient<T>(Tensor<T> a, Tensor<T> b, Tensor<T> g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var count = ShapeMath.Numel(a.ShapeArray[..^1]);   // explicit: -1 cannot be inferred when k or n is 0
        var rows = a.Reshape(count, a.ShapeArray[^1]);
        var grad = g.Reshape(count, g.ShapeArray[^1]);
        return b.StridesArray[0] == 1 && b.StridesArray[1] != 1
            ? grad.Transpose(0, 1).MatMul(rows).Transpose(0, 1)
            : rows.Transpose(0, 1).MatMul(grad);
    }

    /// <summary>One GEMM per batch element, or a single GEMM when the batch folds into A's rows.</summary>
    private static void Multiply<T>(int[] batch, int m, int n, int k, Tensor<T> a, int[] aStrides, Tensor<T> b, int[] bStrides, Tensor<T> result)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rank = batch.Length;
        using var ar = a.Read();
        using var br = b.Read();
        using var cw = result.Write();
        var aData = ar.Memory;
        var bData = br.Memory;
        var c = cw.Memory;
        int aRs = aStrides[rank], aCs = aStrides[rank + 1], bRs = bStrides[rank], bCs = bStrides[rank + 1];
        var batchCount = ShapeMath.Numel(batch);
        if (batchCount == 0 || m == 0 || n == 0)
        {
            return;
        }

        // B shared by every batch element and A's (batch..., m) dims laid out as one run of rows:
        // a single (batch·m)×k by k×n product, as a Linear layer over a 3-D input.
        // Row r = b·m + i of the folded A must sit at r·aRs: walking out from the m dim, each batch
        // dim of size > 1 must step exactly over everything inside it (a stride-0 batch dim fails).
        var foldable = aRs != 0;
        long expected = (long)aRs * m;
        for (var d = rank - 1; d >= 0 && foldable; d--)
        {
            foldable = bStrides[d] == 0 && (batch[d] == 1 || aStrides[d] == expected);
            expected *= batch[d];
        }

        if (foldable)
        {
            Gemm.Multiply(batchCount * m, n, k, aData, ar.Offset, aRs, aCs, bData, br.Offset, bRs, bCs, c, 0, n, accumulate: false);
            return;
        }

        var cStrides = ShapeMath.ContiguousStrides([.. batch, m, n]);
        var cursor = new RowCursor(batch, cStrides.AsSpan(0, rank), 0, aStrides.AsSpan(0, rank), ar.Offset, bStrides.AsSpan(0, rank), br.Offset);

        // Products each too small to split (attention's [48, 64, 32]) but many of them: the batch is spread
        // over the threads instead, each product on one worker, so its result does not depend on the count.
        var threads = Math.Min(Gemm.Workers((long)batchCount * m * n * k), batchCount);
        if (threads > 1 && Gemm.Workers((long)m * n * k) <= 1)
        {
            var offsets = new int[3 * batchCount];
            for (var at = 0; cursor.MoveNext();)
            {
                int oc = cursor.Offset0, oa = cursor.Offset1, ob = cursor.Offset2;
                for (var i = 0; i < cursor.Length; i++, oc += cursor.Inner0, oa += cursor.Inner1, ob += cursor.Inner2, at += 3)
                {
                    (offsets[at], offsets[at + 1], offsets[at + 2]) = (oc, oa, ob);
                }
            }

            // A few items per thread, so a late worker finds most of the batch still to claim.
            var items = Math.Min(batchCount, 4 * threads);
            Gemm.ClaimEachOnOneThread(items, threads, static () => 0, (item, _) =>
            {
                for (var e = (int)((long)batchCount * item / items); e < (int)((long)batchCount * (item + 1) / items); e++)
                {
                    Gemm.Multiply(m, n, k, aData, offsets[3 * e + 1], aRs, aCs, bData, offsets[3 * e + 2], bRs, bCs, c, offsets[3 * e], n, accumulate: false);
                }
            },
            static _ => { });
            return;
        }

        while (cursor.MoveNext())
        {
            int oc = cursor.Offset0, oa = cursor.Offset1, ob = cursor.Offset2;
            for (var i = 0; i < cursor.Length; i++, oc += cursor.Inner0, oa += cursor.Inner1, ob += cursor.Inner2)
            {
                Gemm.Multiply(m, n, k, aData, oa, aRs, aCs, bData, ob, bRs, bCs, c, oc, n, accumulate: false);
            }
        }
    }
}
