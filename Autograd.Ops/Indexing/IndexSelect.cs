using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class IndexSelectExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// The slices x.Select(dim, index[k]) for each k, stacked along <paramref name="dim"/> (PyTorch's
        /// index_select; indices may repeat). VJP: dx = zeros(x.shape) with g's slice k added at
        /// index[k] along dim (index_add), itself recorded with VJP IndexSelect.
        /// </summary>
        public Tensor<T> IndexSelect(int dim, IndexTensor index, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            ArgumentNullException.ThrowIfNull(index);
            var d = ShapeMath.NormalizeDim(dim, x.Rank, "IndexSelect");
            if (x.Rank == 0 || index.Rank > 1)
            {
                throw new ArgumentException(
                    $"IndexSelect: needs a tensor of rank ≥ 1 and a 1-D index (input {ShapeMath.Format(x.ShapeArray)}, index {ShapeMath.Format(index.ShapeArray)}).", nameof(index));
            }

            var idx = Checked(index, x.ShapeArray, d, "IndexSelect");
            var shape = (int[])x.ShapeArray.Clone();
            shape[d] = idx.Length;
            ShapeMath.Numel(shape, "IndexSelect");
            var result = Tensor<T>.Uninitialized(shape);   // every slice is written below
            var (sliceShape, outStrides, xStrides) = Slices(shape, result.StridesArray, x.StridesArray, d);
            using (var rw = result.Write())
            using (var xr = x.Read())
            {
                for (var k = 0; k < idx.Length; k++)
                {
                    Strided.Copy(
                        rw.Span, k * result.StridesArray[d], outStrides,
                        xr.Span, xr.Offset + idx[k] * x.StridesArray[d], xStrides,
                        sliceShape);
                }
            }

            if (Tape.ShouldRecord(x))
            {
                var xShape = x.ShapeArray;
                Tape.Record("IndexSelect", new CallSite(callerFile, callerLine), result, [x], (g, grads) => grads[0] = IndexAdd(g, d, index, idx, xShape));
            }

            return result;
        }

        /// <summary>IndexSelect with the indices given as ints.</summary>
        public Tensor<T> IndexSelect(int dim, int[] index, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(index);
            return x.IndexSelect(dim, IndexTensor.FromArray(index), callerFile, callerLine);
        }
    }

    /// <summary>zeros(shape) with slice k of g added at position idx[k] of dim; recorded, its VJP is IndexSelect.</summary>
    private static Tensor<T> IndexAdd<T>(Tensor<T> g, int d, IndexTensor index, int[] idx, int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = Tensor<T>.ZeroFilled((int[])shape.Clone());
        var (sliceShape, outStrides, gStrides) = Slices(g.ShapeArray, result.StridesArray, g.StridesArray, d);
        using (var rw = result.Write())
        using (var gr = g.Read())
        {
            for (var k = 0; k < idx.Length; k++)
            {
                Strided.Accumulate(
                    rw.Span, idx[k] * result.StridesArray[d], outStrides,
                    gr.Span, gr.Offset + k * g.StridesArray[d], gStrides,
                    sliceShape);
            }
        }

        if (Tape.ShouldRecord(g))
        {
            Tape.Record("IndexAdd", result, [g], (gg, grads) => grads[0] = gg.IndexSelect(d, index));
        }

        return result;
    }

    /// <summary>Shape and strides of one slice across dim (dim removed).</summary>
    private static (int[] Shape, int[] A, int[] B) Slices(int[] shape, int[] a, int[] b, int d) =>
        ([.. shape[..d], .. shape[(d + 1)..]], [.. a[..d], .. a[(d + 1)..]], [.. b[..d], .. b[(d + 1)..]]);

    private static int[] Checked(IndexTensor index, int[] shape, int d, string op)
    {
        var idx = new int[index.Numel];
        for (var k = 0; k < idx.Length; k++)
        {
            var v = index.Indices[k];
            if ((ulong)v >= (ulong)shape[d])
            {
                throw new ArgumentException(
                    $"{op}: index {v} is out of range for dimension {d} of size {shape[d]} (input {ShapeMath.Format(shape)}, index {ShapeMath.Format(index.ShapeArray)}).",
                    nameof(index));
            }

            idx[k] = (int)v;
        }

        return idx;
    }
}
