using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class GatherExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// out[p] = x[p with coordinate <paramref name="dim"/> replaced by index[p]], for every position p
        /// of <paramref name="index"/> (PyTorch's gather; the result has the index's shape). The index has
        /// x's rank and is no larger than x in the other dimensions. VJP: dx = zeros(x.shape).ScatterAdd(dim,
        /// index, g): repeated indices accumulate.
        /// </summary>
        public Tensor<T> Gather(int dim, IndexTensor index, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            ArgumentNullException.ThrowIfNull(index);
            var d = ShapeMath.NormalizeDim(dim, x.Rank, "Gather");
            var shapes = $"input {ShapeMath.Format(x.ShapeArray)}, index {ShapeMath.Format(index.ShapeArray)}, dim {dim}";
            if (x.Rank == 0)
            {
                throw new ArgumentException($"Gather: cannot gather from a rank-0 tensor ({shapes}).", nameof(x));
            }

            IndexWalk.CheckShapes("Gather", index, d, x.ShapeArray, "input", null, shapes);
            var (from, _) = IndexWalk.Offsets("Gather", index, d, x.ShapeArray, x.StridesArray, x.Offset, new int[index.Rank], 0, shapes);
            var result = Tensor<T>.Uninitialized((int[])index.ShapeArray.Clone());
            using (var xr = x.Read())
            using (var rw = result.Write())
            {
                var src = xr.Span;
                var data = rw.Elements;
                for (var i = 0; i < data.Length; i++)
                {
                    data[i] = src[from[i]];
                }
            }

            if (Tape.ShouldRecord(x))
            {
                var xShape = x.ShapeArray;
                Tape.Record("Gather", new CallSite(callerFile, callerLine), result, [x], (g, grads) => grads[0] = Tensor.Zeros<T>(xShape).ScatterAdd(d, index, g));
            }

            return result;
        }
    }
}
