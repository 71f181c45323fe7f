using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class EmbeddingExtensions
{
    extension<T>(Tensor<T> weight)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Rows of this [num, dim] table picked by <paramref name="indices"/> (any shape): the result has
        /// shape [..indices, dim] (PyTorch's <c>F.embedding(indices, weight, padding_idx)</c>). The row
        /// <paramref name="paddingIdx"/> (negative counts from the end) is read like any other but gets no
        /// gradient. VJP: dWeight[r] = Σ g[p] over the positions p with indices[p] = r ≠ paddingIdx, each row
        /// summed in position order by one thread, so repeated indices accumulate and the result is the
        /// same bits at any thread count; recorded, its VJP is this gather with padding positions zeroed.
        /// </summary>
        public Tensor<T> Embedding(IndexTensor indices, int? paddingIdx = null, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(weight);
            ArgumentNullException.ThrowIfNull(indices);
            var shapes = $"weight {ShapeMath.Format(weight.ShapeArray)}, indices {ShapeMath.Format(indices.ShapeArray)}";
            if (weight.Rank != 2)
            {
                throw new ArgumentException($"Embedding: weight must be 2-D [num, dim] ({shapes}).", nameof(weight));
            }

            var num = weight.ShapeArray[0];
            var padding = -1;
            if (paddingIdx is { } p)
            {
                if (p < -num || p >= num)
                {
                    throw new ArgumentException($"Embedding: paddingIdx {p} is out of range for a weight of {num} rows ({shapes}).", nameof(paddingIdx));
                }

                padding = p < 0 ? p + num : p;
            }

            var rows = new int[indices.Numel];
            for (var i = 0; i < rows.Length; i++)
            {
                var v = indices.Indices[i];
                if ((ulong)v >= (ulong)num)
                {
                    throw new ArgumentException($"Embedding: index {v} at position {i} is out of range for a weight of {num} rows ({shapes}).", nameof(indices));
                }

                rows[i] = (int)v;
            }

            ShapeMath.Numel([.. indices.ShapeArray, weight.ShapeArray[1]], "Embedding");
            var result = Lookup(weight, rows, indices.ShapeArray, padding, zeroPadding: false, "Embedding", new CallSite(callerFile, callerLine));
            if (OpTrace.IsActive)
            {
                OpTrace.Add("Embedding", result, [weight, indices]);
            }

            return result;
        }
    }

    extension(Tensor)
    {
        /// <summary><c>weight.Embedding(indices)</c> in PyTorch's functional form (<c>F.embedding</c>, the weight first).</summary>
        public static Tensor<T> Embedding<T>(Tensor<T> weight, IndexTensor indices, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            ArgumentNullException.ThrowIfNull(weight);
            return weight.Embedding(indices, null, callerFile, callerLine);
        }

        /// <summary><c>weight.Embedding(indices, paddingIdx)</c> in PyTorch's functional form: row <paramref name="paddingIdx"/> gets no gradient.</summary>
        public static Tensor<T> Embedding<T>(Tensor<T> weight, IndexTensor indices, int paddingIdx, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            ArgumentNullException.ThrowIfNull(weight);
            return weight.Embedding(indices, paddingIdx, callerFile, callerLine);
        }
    }

    /// <summary>
    /// out[p, :] = src[rows[p], :] for every position p (out of shape [..indexShape, dim]); with
    /// <paramref name="zeroPadding"/> the positions whose row is <paramref name="padding"/> read 0 (the
    /// adjoint of <see cref="RowSums{T}"/>). Recorded when src requires grad, with VJP RowSums.
    /// </summary>
    private static Tensor<T> Lookup<T>(Tensor<T> src, int[] rows, int[] indexShape, int padding, bool zeroPadding, string name, CallSite callSite)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var num = src.ShapeArray[0];
        var dim = src.ShapeArray[1];
        var result = Tensor<T>.Uninitialized([.. indexShape, dim]);   // every row is written below
        using (var sr = src.Read())
        using (var w = result.Write())
        {
            var from = sr.Span;
            var to = w.Elements;
            int rs = sr.Strides[0], cs = sr.Strides[1];
            for (var p = 0; p < rows.Length && dim > 0; p++)
            {
                var dst = to.Slice(p * dim, dim);
                var at = sr.Offset + rows[p] * rs;
                if (zeroPadding && rows[p] == padding)
                {
                    dst.Clear();
                }
                else if (cs == 1)
                {
                    from.Slice(at, dim).CopyTo(dst);
                }
                else
                {
                    for (var j = 0; j < dim; j++)
                    {
                        dst[j] = from[at + j * cs];
                    }
                }
            }
        }

        if (Tape.ShouldRecord(src))
        {
            Tape.Record(name, callSite, result, [src], (g, grads) => grads[0] = RowSums(g, rows, num, padding));
        }

        return result;
    }

    /// <summary>
    /// dst = zeros([num, dim]); dst[rows[p], :] += g[p, :] for every position p whose row is not
    /// <paramref name="padding"/>. The positions are grouped by row (a stable counting sort), and each row
    /// is summed in position order by one thread: the same bits at any thread count. Recorded when g
    /// requires grad, with VJP <see cref="Lookup{T}"/> (padding positions zeroed).
    /// </summary>
    private static Tensor<T> RowSums<T>(Tensor<T> g, int[] rows, int num, int padding)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var dim = g.ShapeArray[^1];
        var start = new int[num + 1];
        foreach (var r in rows)
        {
            if (r != padding)
            {
                start[r + 1]++;
            }
        }

        for (var r = 0; r < num; r++)
        {
            start[r + 1] += start[r];
        }

        var order = new int[start[num]];
        var next = start[..num];
        for (var p = 0; p < rows.Length; p++)
        {
            if (rows[p] != padding)
            {
                order[next[rows[p]]++] = p;
            }
        }

        var result = Tensor<T>.ZeroFilled([num, dim]);
        using (var gr = g.Read())
        using (var w = result.Write())
        {
            var (source, offset) = gr.Dense;
            var target = w.Memory;
            void Rows(int r0, int r1)
            {
                var from = source.Span;
                var to = target.Span;
                for (var r = r0; r < r1; r++)
                {
                    var dst = to.Slice(r * dim, dim);
                    for (var k = start[r]; k < start[r + 1]; k++)
                    {
                        TP.Add(dst, from.Slice(offset + order[k] * dim, dim), dst);
                    }
                }
            }

            // A pass of adds over the gradient's rows: spread over threads from the elementwise kernels' size on
            // (the GPT's [768, 128] stays on the caller: waking a worker cost more than its ~25 µs of adds).
            var chunks = Math.Min(Elementwise.Chunks((long)order.Length * dim), num);
            Threads.ForRanges(num, chunks, Rows);
        }

        if (Tape.ShouldRecord(g))
        {
            var indexShape = g.ShapeArray[..^1];
            Tape.Record("EmbeddingBackward", result, [g], (gg, grads) => grads[0] = Lookup(gg, rows, indexShape, padding, zeroPadding: true, "EmbeddingBackwardBackward", CallSite.Unknown));
        }

        return result;
    }
}
