using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class SortExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// The elements along <paramref name="dim"/> in ascending (or, with <paramref name="descending"/>,
        /// descending) order and the positions they came from (PyTorch's <c>sort</c>, with <c>stable=True</c>):
        /// equal elements keep the order of their positions; NaN sorts as larger than every number (last
        /// ascending, first descending), as PyTorch. The indices are data.
        /// VJP: dx = zeros(x.shape).ScatterAdd(dim, indices, g), as TopK's (Sort is TopK of every element).
        /// </summary>
        public (Tensor<T> Values, IndexTensor Indices) Sort(int dim = -1, bool descending = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            var d = ShapeMath.NormalizeDim(dim, x.Rank, "Sort", shape: x.ShapeArray);
            var n = x.Rank == 0 ? 1 : x.ShapeArray[d];
            return x.TopK(n, d, largest: descending, sorted: true, callerFile, callerLine);
        }
    }
}
