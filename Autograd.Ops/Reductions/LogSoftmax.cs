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
            if (n > 0)
            {
                for (var start = 0; start < data.Length; start += n)
                {
                    var row = data.Slice(start, n);
                    var max = TP.Max<T>(row);
                    if (T.IsInfinity(max))
                    {
                        max = T.Zero;
                    }

                    TP.Subtract(row, max, row);
                    var logSum = T.Log(SumExp(row));
                    TP.Subtract(row, logSum, row);
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

    private static T SumExp<T>(Span<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var sum = T.Zero;
        foreach (var v in row)
        {
            sum += T.Exp(v);
        }

        return sum;
    }
}
