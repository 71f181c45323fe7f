using System.Numerics;

namespace Autograd;

public static class MatrixTransposeExtensions
{
    extension<TElement>(Tensor<TElement> x)
        where TElement : unmanaged, IFloatingPointIeee754<TElement>
    {
        /// <summary>
        /// PyTorch's <c>x.T</c>: the transpose of a matrix (a view, <c>Transpose(0, 1)</c>); a vector or a scalar
        /// is returned as it is. For more dimensions PyTorch deprecates <c>.T</c>: use <c>Transpose(-2, -1)</c>
        /// (its <c>mT</c>) or <c>Permute</c>. A property cannot take caller information: the node names
        /// "property T", and anomaly mode finds its line.
        /// </summary>
        /// <remarks>An extension property: a member of <c>Tensor&lt;T&gt;</c> cannot share the name of its type parameter.</remarks>
        public Tensor<TElement> T
        {
            get
            {
                ArgumentNullException.ThrowIfNull(x);
                if (x.Rank > 2)
                {
                    throw new ArgumentException($"T: the tensor has shape {ShapeMath.Format(x.ShapeArray)}; .T is for 2 or fewer dimensions (use Transpose(-2, -1) or Permute).", nameof(x));
                }

                return x.Rank < 2 ? x : x.Transpose(0, 1, callerLine: 0);
            }
        }
    }
}
