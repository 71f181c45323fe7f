using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd.Kernels;

/// <summary>Reductions over a set of dimensions, shared by Sum, Mean, Max, Min, Argmax/Argmin and Prod.</summary>
internal static class Reduce
{
    // Elements per partial sum of a large full sum (256 KiB of floats: a partial stays in L2 territory
    // and there are enough blocks to keep two threads evenly busy).
    private const int SumBlock = 1 << 16;

    /// <summary>
    /// Normalises the dims to reduce (an empty or null list means all, as PyTorch) and returns a
    /// flag per dimension plus the keepDim shape (reduced sizes set to 1).
    /// </summary>
    public static (bool[] Reduced, int[] KeepShape, int[] OutShape) Plan(int[] shape, int[]? dims, bool keepDim, string op)
    {
        var reduced = new bool[shape.Length];
        if (dims is null || dims.Length == 0)
        {
            Array.Fill(reduced, true);
        }
        else
        {
            foreach (var dim in dims)
            {
                var d = ShapeMath.NormalizeDim(dim, shape.Length, op, shape: shape);
                if (shape.Length > 0 && reduced[d])
                {
                    throw new ArgumentException($"{op}: dimension {dim} appears twice in dims {ShapeMath.Format(dims)} (shape {ShapeMath.Format(shape)}).", nameof(dims));
                }

                if (shape.Length > 0)
                {
                    reduced[d] = true;
                }
            }
        }

        var keep = new int[shape.Length];
        var outShape = new List<int>();
        for (var i = 0; i < shape.Length; i++)
        {
            keep[i] = reduced[i] ? 1 : shape[i];
            if (!reduced[i] || keepDim)
            {
                outShape.Add(keep[i]);
            }
        }

        return (reduced, keep, [.. outShape]);
    }

    /// <summary>Σ over the reduced dims into a new row-major buffer of the keepDim shape.</summary>
    public static T[] Sum<T>(Tensor<T> x, int[] keepShape)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = new T[ShapeMath.Numel(keepShape)];
        var n = x.Numel;
        using var xr = x.Read();
        if (result.Length == 1 && n >= Elementwise.ParallelThreshold && x.IsContiguous)
        {
            // A full sum of a large contiguous tensor: partial sums over fixed blocks of SumBlock elements,
            // spread over the threads and added in block order. The partition depends on n only, so the
            // result is the same bits at any thread count and whichever thread finishes first.
            var blocks = (int)((n + SumBlock - 1) / SumBlock);
            var partial = new T[blocks];
            var xm = xr.Memory.Slice(xr.Offset, n);
            Threads.For(blocks, Elementwise.Chunks(n), b => partial[b] = TP.Sum<T>(xm.Span[(b * SumBlock)..Math.Min(n, (b + 1) * SumBlock)]));
            result[0] = TP.Sum<T>(partial);
            return result;
        }

        var strides = ShapeMath.ContiguousStrides(keepShape);
        for (var i = 0; i < keepShape.Length; i++)
        {
            if (keepShape[i] != x.ShapeArray[i] || keepShape[i] == 1)
            {
                strides[i] = 0;
            }
        }

        // The destination is read with stride 0 along reduced dims, so every element of a reduced
        // fibre accumulates into the same slot (a full-tensor sum is one TensorPrimitives.Sum).
        Strided.Accumulate(result, 0, strides, xr.Span, xr.Offset, x.StridesArray, x.ShapeArray);
        return result;
    }

    /// <summary>
    /// Max over the reduced dims: values in keepDim row-major order and, for each, the row-major
    /// index in x of the first maximum (ties go to the first in row-major order; NaN wins, as PyTorch).
    /// </summary>
    public static (T[] Values, int[] ArgMax) Max<T>(Tensor<T> x, bool[] reduced, string op)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Extreme(x, reduced, op, min: false);

    /// <summary>Max or (with <paramref name="min"/>) min over the reduced dims, with the row-major index in x of the first extreme.</summary>
    public static (T[] Values, int[] Arg) Extreme<T>(Tensor<T> x, bool[] reduced, string op, bool min)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (data, outer, inner, perm, permShape) = Rows(x, reduced);
        if (inner == 0)
        {
            throw new ArgumentException($"{op}: cannot take the {(min ? "minimum" : "maximum")} over an empty dimension (shape {ShapeMath.Format(x.ShapeArray)}).", "dims");
        }

        var rank = x.Rank;
        var values = new T[outer];
        var arg = new int[outer];
        var xStrides = ShapeMath.ContiguousStrides(x.ShapeArray);
        var index = new int[rank];
        for (var o = 0; o < outer; o++)
        {
            var row = data.AsSpan(o * inner, inner);
            var k = min ? TP.IndexOfMin<T>(row) : TP.IndexOfMax<T>(row);
            values[o] = row[k];

            // Unravel (o, k) in the permuted shape, then map back to x's row-major index.
            var flat = o * inner + k;
            for (var d = rank - 1; d >= 0; d--)
            {
                index[d] = flat % permShape[d];
                flat /= permShape[d];
            }

            var at = 0;
            for (var d = 0; d < rank; d++)
            {
                at += index[d] * xStrides[perm[d]];
            }

            arg[o] = at;
        }

        return (values, arg);
    }

    /// <summary>
    /// x with the kept dims first and the reduced dims last, copied row-major: each of the
    /// <c>outer</c> rows of <c>inner</c> elements is one reduction, in keepDim row-major order.
    /// </summary>
    public static (T[] Data, int Outer, int Inner, int[] Perm, int[] PermShape) Rows<T>(Tensor<T> x, bool[] reduced)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rank = x.Rank;
        var perm = Enumerable.Range(0, rank).Where(d => !reduced[d]).Concat(Enumerable.Range(0, rank).Where(d => reduced[d])).ToArray();
        var permShape = perm.Select(d => x.ShapeArray[d]).ToArray();
        var permStrides = perm.Select(d => x.StridesArray[d]).ToArray();
        var inner = 1;
        var outer = 1;
        for (var d = 0; d < rank; d++)
        {
            if (reduced[d])
            {
                inner *= x.ShapeArray[d];
            }
            else
            {
                outer *= x.ShapeArray[d];
            }
        }

        using var xr = x.Read();
        return (Strided.ToContiguous(xr.Span, xr.Offset, permStrides, permShape), outer, inner, perm, permShape);
    }
}
