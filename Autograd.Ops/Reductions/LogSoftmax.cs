using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class LogSoftmaxExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// log(softmax(x)) along <paramref name="dim"/>, computed stably as x − max − log Σ exp(x − max).
        /// VJP: dx = g − exp(y) · Σ_dim g, with y the saved output.
        /// </summary>
        public Tensor<T> LogSoftmax(int dim, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            var d = ShapeMath.NormalizeDim(dim, x.Rank, "LogSoftmax", shape: x.ShapeArray);
            var rank = Math.Max(x.Rank, 1);
            var shape = x.Rank == 0 ? [1] : x.ShapeArray;
            var strides = x.Rank == 0 ? [1] : x.StridesArray;

            // Move dim last so that every softmax is one contiguous row.
            var perm = Enumerable.Range(0, rank).Where(i => i != d).Append(d).ToArray();
            var permShape = perm.Select(i => shape[i]).ToArray();
            var work = Tensor<T>.Uninitialized(permShape);
            using var ww = work.Write();
            var data = ww.Elements;
            using (var xr = x.Read())
            {
                Strided.Copy(data, 0, work.StridesArray, xr.Span, xr.Offset, perm.Select(i => strides[i]).ToArray(), permShape);
            }

            var n = shape[d];
            if (n > 0 && data.Length > 0)
            {
                // Rows are independent, so cutting them over threads changes no bits; five passes and an exp
                // per element make the pass worth a second thread at a fourteenth of a copy's size.
                var rows = data.Length / n;
                var chunks = Math.Min(Elementwise.Chunks(data.Length, Elementwise.Cost.SoftmaxRow), rows);
                if (chunks == 1)
                {
                    Rows(data, n);
                }
                else
                {
                    ParallelRows(ww.Memory.Slice(ww.Offset, data.Length), n, rows, chunks);
                }
            }

            // Back to x's dimension order: when dim was already last the buffer is the result, else a
            // permuted view of it is copied to row-major.
            Tensor<T> result;
            if (d == rank - 1 && x.Rank > 0)
            {
                result = work;
            }
            else
            {
                var inverse = new int[rank];
                for (var i = 0; i < rank; i++)
                {
                    inverse[perm[i]] = i;
                }

                result = Tensor<T>.Uninitialized((int[])x.ShapeArray.Clone());
                using var rw = result.Write();
                Strided.Copy(rw.Span, 0, ShapeMath.ContiguousStrides(shape), data, 0, inverse.Select(i => work.StridesArray[i]).ToArray(), shape);
            }

            if (OpTrace.IsActive)
            {
                OpTrace.Add("LogSoftmax", result, [x], ("dim", d));
            }

            if (Tape.ShouldRecord(x))
            {
                Tape.Record("LogSoftmax", new CallSite(callerFile, callerLine), result, [x], (g, grads) => grads[0] = g.Sub(result.Exp().Mul(g.Sum(d, keepDim: true))), result);
            }

            return result;
        }
    }

    /// <summary>The threaded form of <see cref="Rows{T}"/>, apart so that its closure is allocated only when it runs.</summary>
    private static void ParallelRows<T>(Memory<T> data, int n, int rows, int chunks)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Elementwise.CountParallelPass();
        Threads.ForRanges(rows, chunks, (r0, r1) => Rows(data.Span[(r0 * n)..(r1 * n)], n));
    }

    /// <summary>Each row of n in place: x − max − log Σ exp(x − max) (a max of ±∞ is taken as 0, so such a row gives ±∞ or NaN as PyTorch).</summary>
    private static void Rows<T>(Span<T> data, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // exp of a row into scratch, then one vector sum in a fixed order (Simd.Sum): 4–8 times faster than
        // scalar exp, the same bits whichever thread or chunk the row lands in.
        var scratch = n <= 1024 ? stackalloc T[n] : new T[n];
        for (var start = 0; start < data.Length; start += n)
        {
            var row = data.Slice(start, n);
            var max = TP.Max<T>(row);
            if (T.IsInfinity(max))
            {
                max = T.Zero;
            }

            TP.Subtract(row, max, row);
            TP.Exp<T>(row, scratch);
            var logSum = T.Log(Simd.Sum<T>(scratch));
            TP.Subtract(row, logSum, row);
        }
    }
}
