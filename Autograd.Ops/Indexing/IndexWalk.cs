namespace Autograd.Kernels;

/// <summary>
/// The addressing of gather and scatter along one dimension (PyTorch's gather/scatter_add rule): for
/// every position p of the index tensor (row-major), the element of the indexed tensor at p with
/// coordinate <c>dim</c> replaced by <c>index[p]</c>, and the element of the other operand at p itself.
/// </summary>
internal static class IndexWalk
{
    /// <summary>
    /// Storage offsets, one pair per index position: <c>Indexed[i]</c> in the tensor addressed through
    /// the index (offset, strides), <c>Direct[i]</c> in the tensor read or written at the position itself.
    /// Throws, naming the op and both shapes, when an index is outside 0..size-1 of <paramref name="dim"/>.
    /// </summary>
    public static (int[] Indexed, int[] Direct) Offsets(
        string op, IndexTensor index, int dim,
        int[] indexedShape, int[] indexedStrides, int indexedOffset,
        int[] directStrides, int directOffset,
        string shapes)
    {
        var shape = index.ShapeArray;
        var idx = index.Indices;
        var rank = shape.Length;
        var indexed = new int[idx.Length];
        var direct = new int[idx.Length];
        var pos = new int[rank];
        var size = indexedShape[dim];
        for (var i = 0; i < idx.Length; i++)
        {
            var k = idx[i];
            if ((ulong)k >= (ulong)size)
            {
                throw new ArgumentException($"{op}: index {k} is out of range for dimension {dim} of size {size} ({shapes}).", nameof(index));
            }

            var a = indexedOffset + (int)k * indexedStrides[dim];
            var b = directOffset;
            for (var d = 0; d < rank; d++)
            {
                b += pos[d] * directStrides[d];
                if (d != dim)
                {
                    a += pos[d] * indexedStrides[d];
                }
            }

            indexed[i] = a;
            direct[i] = b;

            // Next position, row-major.
            for (var d = rank - 1; d >= 0; d--)
            {
                if (++pos[d] < shape[d])
                {
                    break;
                }

                pos[d] = 0;
            }
        }

        return (indexed, direct);
    }

    /// <summary>
    /// Checks the shapes of gather/scatter (PyTorch): the index has the tensors' rank and is no larger
    /// than <paramref name="other"/> in any dimension but <paramref name="dim"/> (and no larger than
    /// <paramref name="direct"/>, when given, in any dimension).
    /// </summary>
    public static void CheckShapes(string op, IndexTensor index, int dim, int[] other, string otherName, int[]? direct, string shapes)
    {
        if (index.Rank != other.Length || (direct is not null && direct.Length != other.Length))
        {
            throw new ArgumentException($"{op}: index and {otherName} must have the same number of dimensions ({shapes}).", nameof(index));
        }

        for (var d = 0; d < other.Length; d++)
        {
            if ((d != dim && index.ShapeArray[d] > other[d]) || (direct is not null && index.ShapeArray[d] > direct[d]))
            {
                throw new ArgumentException($"{op}: index size {index.ShapeArray[d]} in dimension {d} is larger than allowed ({shapes}).", nameof(index));
            }
        }
    }
}
