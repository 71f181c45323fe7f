using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class ScatterAddExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// A copy of x with src[p] added at x[p with coordinate <paramref name="dim"/> replaced by
        /// index[p]] for every position p of <paramref name="index"/>; repeated indices accumulate
        /// (PyTorch's scatter_add, out of place). The index has x's rank, is no larger than src in any
        /// dimension and no larger than x in the others. VJP: dx = g; dsrc = g.Gather(dim, index), zero
        /// where src is larger than the index.
        /// </summary>
        public Tensor<T> ScatterAdd(int dim, IndexTensor index, Tensor<T> src, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            ArgumentNullException.ThrowIfNull(index);
            ArgumentNullException.ThrowIfNull(src);
            var d = ShapeMath.NormalizeDim(dim, x.Rank, "ScatterAdd");
            var shapes = $"input {ShapeMath.Format(x.ShapeArray)}, index {ShapeMath.Format(index.ShapeArray)}, src {ShapeMath.Format(src.ShapeArray)}, dim {dim}";
            if (x.Rank == 0)
            {
                throw new ArgumentException($"ScatterAdd: cannot scatter into a rank-0 tensor ({shapes}).", nameof(x));
            }

            IndexWalk.CheckShapes("ScatterAdd", index, d, x.ShapeArray, "input", src.ShapeArray, shapes);
            var result = x.ContiguousCopy();
            var (to, from) = IndexWalk.Offsets("ScatterAdd", index, d, result.ShapeArray, result.StridesArray, 0, src.StridesArray, src.Offset, shapes);
            using (var rw = result.Write())
            using (var sr = src.Read())
            {
                var dst = rw.Span;
                var s = sr.Span;
                for (var i = 0; i < to.Length; i++)
                {
                    dst[to[i]] += s[from[i]];
                }
            }

            if (Tape.ShouldRecord(x, src))
            {
                var srcShape = src.ShapeArray;
                var needSrc = src.RequiresGrad;
                Tape.Record("ScatterAdd", new CallSite(callerFile, callerLine), result, [x, src], (g, grads) =>
                {
                    grads[0] = g;
                    if (needSrc)
                    {
                        grads[1] = PadTo(g.Gather(d, index), srcShape);
                    }
                });
            }

            return result;
        }
    }

    /// <summary>Zeros appended at the end of each dimension up to <paramref name="shape"/> (with Cat, so differentiable).</summary>
    private static Tensor<T> PadTo<T>(Tensor<T> t, int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (var d = 0; d < shape.Length; d++)
        {
            if (t.ShapeArray[d] < shape[d])
            {
                var pad = t.Shape;
                pad[d] = shape[d] - t.ShapeArray[d];
                t = Tensor.Cat([t, Tensor.Zeros<T>(pad)], d);
            }
        }

        return t;
    }
}
