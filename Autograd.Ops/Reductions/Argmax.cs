using System.Numerics;
using Autograd.Kernels;

namespace Autograd;

/// <summary>
/// Positions of the largest and smallest elements, as <see cref="IndexTensor"/>s (not differentiable:
/// an index is an integer). Ties give the first position, NaN counts as the extreme, as PyTorch.
/// </summary>
public static class ArgmaxExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Index of the largest element along <paramref name="dim"/>, or (dim null) in the flattened tensor,
        /// giving a rank-0 result (all-ones shape with keepDim).
        /// </summary>
        public IndexTensor Argmax(int? dim = null, bool keepDim = false) => ArgExtreme(x, dim, keepDim, "Argmax", min: false);

        /// <summary>Index of the smallest element along <paramref name="dim"/>, or in the flattened tensor.</summary>
        public IndexTensor Argmin(int? dim = null, bool keepDim = false) => ArgExtreme(x, dim, keepDim, "Argmin", min: true);
    }

    private static IndexTensor ArgExtreme<T>(Tensor<T> x, int? dim, bool keepDim, string op, bool min)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        var (reduced, _, outShape) = Reduce.Plan(x.ShapeArray, dim is { } d0 ? [d0] : null, keepDim, op);
        var (_, flat) = Reduce.Extreme(x, reduced, op, min);
        var result = new long[flat.Length];
        if (dim is null)
        {
            // Position in the flattened tensor: the row-major index itself.
            for (var i = 0; i < flat.Length; i++)
            {
                result[i] = flat[i];
            }
        }
        else
        {
            var d = ShapeMath.NormalizeDim(dim.Value, x.Rank, op);
            var stride = x.Rank == 0 ? 1 : ShapeMath.ContiguousStrides(x.ShapeArray)[d];
            var size = x.Rank == 0 ? 1 : x.ShapeArray[d];
            for (var i = 0; i < flat.Length; i++)
            {
                result[i] = flat[i] / stride % size;
            }
        }

        return new IndexTensor(result, outShape);
    }
}
