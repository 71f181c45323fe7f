namespace Autograd;

/// <summary>Shape arithmetic shared by the core and the ops: sizes, strides, broadcasting, messages.</summary>
internal static class ShapeMath
{
    /// <summary>"[2, 3, 4]": the form every error message uses.</summary>
    public static string Format(ReadOnlySpan<int> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    /// <summary>Number of elements; throws when a size is negative or the product overflows an int.</summary>
    public static int Numel(ReadOnlySpan<int> shape, string op = "Tensor", string argument = "shape")
    {
        foreach (var d in shape)
        {
            if (d < 0)
            {
                throw new ArgumentException($"{op}: {argument} {Format(shape)} has a negative size.", argument);
            }
        }

        // A size-0 dimension makes the tensor empty whatever the others are ([65536, 65536, 0] is valid).
        if (shape.Contains(0))
        {
            return 0;
        }

        long n = 1;
        foreach (var d in shape)
        {
            n *= d;
            if (n > int.MaxValue)
            {
                throw new ArgumentException($"{op}: {argument} {Format(shape)} has more than {int.MaxValue} elements.", argument);
            }
        }

        return (int)n;
    }

    /// <summary>Row-major strides of a contiguous tensor of this shape.</summary>
    public static int[] ContiguousStrides(ReadOnlySpan<int> shape)
    {
        if (shape.Length == 0)
        {
            return [];
        }

        var strides = new int[shape.Length];
        var s = 1;
        for (var i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = s;
            s *= Math.Max(shape[i], 1);
        }

        return strides;
    }

    /// <summary>Turns a possibly negative dimension index into 0..rank-1, or throws naming the op (and the tensor's shape when given).</summary>
    public static int NormalizeDim(int dim, int rank, string op, string argument = "dim", int[]? shape = null)
    {
        var r = Math.Max(rank, 1);
        if (dim < -r || dim >= r)
        {
            var of = shape is null ? "" : $" (shape {Format(shape)})";
            throw new ArgumentException($"{op}: {argument} {dim} is out of range for a tensor of rank {rank} (expected {-r}..{r - 1}){of}.", argument);
        }

        return dim < 0 ? dim + r : dim;
    }

    /// <summary>PyTorch broadcasting: align from the right; sizes must match or be 1.</summary>
    public static int[] Broadcast(ReadOnlySpan<int> a, ReadOnlySpan<int> b, string op)
    {
        var rank = Math.Max(a.Length, b.Length);
        var result = new int[rank];
        for (var i = 0; i < rank; i++)
        {
            var da = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            var db = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            if (da != db && da != 1 && db != 1)
            {
                throw new ArgumentException(
                    $"{op}: shapes {Format(a)} and {Format(b)} cannot be broadcast (dimension {i} of the result: {da} vs {db}).",
                    nameof(b));
            }

            result[i] = da == 1 ? db : da;
        }

        return result;
    }

    internal static bool SameShape(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);
}
