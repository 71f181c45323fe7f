using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class TopKExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// The <paramref name="k"/> largest (or, with <paramref name="largest"/> false, smallest) elements along
        /// <paramref name="dim"/> and their positions (PyTorch's topk): both of x's shape with dim of size k.
        /// NaN counts as larger than every number, as PyTorch; equal elements are taken in the order of their
        /// positions. With <paramref name="sorted"/> the values run from the most extreme; without, in the
        /// order of their positions along dim (PyTorch leaves that order unspecified). The indices are data.
        /// VJP: dx = zeros(x.shape).ScatterAdd(dim, indices, g) (recorded, so differentiable again: its
        /// VJP gathers at the indices).
        /// </summary>
        public (Tensor<T> Values, IndexTensor Indices) TopK(int k, int dim = -1, bool largest = true, bool sorted = true, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            var d = ShapeMath.NormalizeDim(dim, x.Rank, "TopK", shape: x.ShapeArray);
            var n = x.Rank == 0 ? 1 : x.ShapeArray[d];
            if (k < 0 || k > n)
            {
                throw new ArgumentException($"TopK: k {k} is out of range for dimension {d} of size {n} (input {ShapeMath.Format(x.ShapeArray)}).", nameof(k));
            }

            if (x.Rank == 0)
            {
                // A scalar is its own one-element row; k = 1 keeps the rank-0 shape, as PyTorch.
                using var site = CallSite.Enter(callerFile, callerLine);
                var (v, i) = x.Reshape(1).TopK(k, 0, largest, sorted);
                return k == 1 ? (v.Reshape(), IndexTensor.FromArray(i.ToArray(), [])) : (v, i);
            }

            var shape = (int[])x.ShapeArray.Clone();
            shape[d] = k;
            var result = Tensor<T>.Uninitialized(shape);   // every element written below
            var positions = new long[result.Numel];

            // Rows along d: row o starts at xStart[o] in x and at outStart[o] in the result.
            var kept = Enumerable.Range(0, x.Rank).Where(i => i != d).ToArray();
            var outStrides = result.StridesArray;
            var row = new T[n];
            var order = new int[n];
            var comparer = new Extremes<T>(row, largest);
            using (var xr = x.Read())
            using (var w = result.Write())
            {
                var cursor = new RowCursor(kept.Select(i => x.ShapeArray[i]).ToArray(), kept.Select(i => x.StridesArray[i]).ToArray(), xr.Offset, kept.Select(i => outStrides[i]).ToArray(), 0);
                var from = xr.Span;
                var to = w.Span;
                int xs = xr.Strides[d], os = outStrides[d];
                while (cursor.MoveNext())
                {
                    int at = cursor.Offset0, outAt = cursor.Offset1;
                    for (var r = 0; r < cursor.Length; r++, at += cursor.Inner0, outAt += cursor.Inner1)
                    {
                        for (var j = 0; j < n; j++)
                        {
                            row[j] = from[at + j * xs];
                            order[j] = j;
                        }

                        Array.Sort(order, comparer);
                        if (!sorted)
                        {
                            Array.Sort(order, 0, k);
                        }

                        for (var j = 0; j < k; j++)
                        {
                            to[outAt + j * os] = row[order[j]];
                            positions[outAt + j * os] = order[j];
                        }
                    }
                }
            }

            var indices = IndexTensor.FromArray(positions, shape);
            if (Tape.ShouldRecord(x))
            {
                var xShape = x.ShapeArray;
                Tape.Record("TopK", new CallSite(callerFile, callerLine), result, [x], (g, grads) => grads[0] = Tensor.Zeros<T>(xShape).ScatterAdd(d, indices, g));
            }

            return (result, indices);
        }
    }

    /// <summary>Orders positions of a row from the most extreme element: NaN first when largest (last otherwise), ties by position.</summary>
    private sealed class Extremes<T>(T[] row, bool largest) : IComparer<int>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public int Compare(int a, int b)
        {
            T va = row[a], vb = row[b];
            var byValue = (T.IsNaN(va), T.IsNaN(vb)) switch
            {
                (true, true) => 0,
                (true, false) => 1,
                (false, true) => -1,
                _ => va.CompareTo(vb),
            };
            return byValue != 0 ? (largest ? -byValue : byValue) : a.CompareTo(b);
        }
    }
}
