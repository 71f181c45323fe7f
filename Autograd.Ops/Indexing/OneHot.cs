using System.Numerics;

namespace Autograd;

/// <summary>PyTorch's <c>F.one_hot</c>, as a float or double tensor of 0 and 1 (the engine has no integer tensors).</summary>
public static class OneHotExtensions
{
    extension(Tensor)
    {
        /// <summary>
        /// A tensor of shape [..indices, numClasses] holding 1 at [..p, indices[p]] and 0 elsewhere
        /// (<paramref name="numClasses"/> = −1: one more than the largest index). Indices are data, so the
        /// result is a constant: never recorded, never requiring grad (a mask, as the comparisons return).
        /// </summary>
        public static Tensor<T> OneHot<T>(IndexTensor indices, int numClasses = -1)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            ArgumentNullException.ThrowIfNull(indices);
            var shape = ShapeMath.Format(indices.ShapeArray);
            if (numClasses < -1)
            {
                throw new ArgumentException($"OneHot: numClasses must be −1 (infer) or at least 0, got {numClasses} (indices {shape}).", nameof(numClasses));
            }

            var max = -1L;
            for (var p = 0; p < indices.Numel; p++)
            {
                var v = indices.Indices[p];
                if (v < 0 || (numClasses >= 0 && v >= numClasses))
                {
                    throw new ArgumentException(
                        $"OneHot: index {v} at position {p} is outside [0, {(numClasses >= 0 ? numClasses : "∞")}) (indices {shape}, numClasses {numClasses}).",
                        nameof(indices));
                }

                max = Math.Max(max, v);
            }

            if (numClasses == -1)
            {
                if (indices.Numel == 0)
                {
                    throw new ArgumentException($"OneHot: cannot infer numClasses from empty indices (indices {shape}); pass numClasses.", nameof(numClasses));
                }

                numClasses = (int)Math.Min(max + 1, int.MaxValue);
            }

            int[] resultShape = [.. indices.ShapeArray, numClasses];
            ShapeMath.Numel(resultShape, "OneHot");
            var result = Tensor<T>.ZeroFilled(resultShape);
            using (var w = result.Write())
            {
                var data = w.Elements;
                for (var p = 0; p < indices.Numel; p++)
                {
                    data[p * numClasses + (int)indices.Indices[p]] = T.One;
                }
            }

            return result;
        }
    }
}
