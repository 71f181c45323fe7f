using System.Text;

namespace Autograd;

/// <summary>
/// A row-major tensor of <c>long</c> indices (PyTorch's int64 index tensors): the result of
/// <c>Argmax</c>/<c>Argmin</c> and the index argument of <c>Gather</c>, <c>ScatterAdd</c> and
/// <c>IndexSelect</c>. Indices are data, not differentiable values, so this type is separate from
/// <see cref="Tensor{T}"/> (which holds only float or double) and is never recorded on the tape.
/// It is immutable: the factories copy their input.
/// </summary>
public sealed class IndexTensor
{
    private readonly long[] _data;
    private readonly int[] _shape;

    internal IndexTensor(long[] data, int[] shape)
    {
        _data = data;
        _shape = shape;
    }

    /// <summary>Sizes of each dimension (a copy).</summary>
    public int[] Shape => (int[])_shape.Clone();

    /// <summary>The shape array itself, not a copy (never written).</summary>
    internal int[] ShapeArray => _shape;

    /// <summary>The indices themselves in row-major order, not a copy (never written).</summary>
    internal ReadOnlySpan<long> Indices => _data;

    public int Rank => _shape.Length;

    /// <summary>Number of indices.</summary>
    public int Numel => _data.Length;

    /// <summary>A copy of the indices in row-major order.</summary>
    public long[] ToArray() => (long[])_data.Clone();

    /// <summary>The single index of a one-element index tensor (an Argmax over all elements).</summary>
    public long Item() => _data.Length == 1
        ? _data[0]
        : throw new InvalidOperationException($"IndexTensor.Item: the index tensor has {_data.Length} elements (shape {ShapeMath.Format(_shape)}); Item() needs exactly one.");

    /// <summary>One index by its full position (negative positions count from the end), as <c>Tensor.At</c>.</summary>
    public long At(params int[] index)
    {
        ArgumentNullException.ThrowIfNull(index);
        if (index.Length != Rank)
        {
            throw new ArgumentException($"IndexTensor.At: {index.Length} indices for shape {ShapeMath.Format(_shape)}.", nameof(index));
        }

        var at = 0;
        for (var i = 0; i < index.Length; i++)
        {
            var k = index[i] < 0 ? index[i] + _shape[i] : index[i];
            if ((uint)k >= (uint)_shape[i])
            {
                throw new ArgumentException($"IndexTensor.At: index {index[i]} is out of range for dimension {i} of shape {ShapeMath.Format(_shape)}.", nameof(index));
            }

            at = at * _shape[i] + k;
        }

        return _data[at];
    }

    /// <summary>Indices (copied) in the given shape.</summary>
    public static IndexTensor FromArray(long[] data, int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        var n = ShapeMath.Numel(shape, "IndexTensor.FromArray");
        if (n != data.Length)
        {
            throw new ArgumentException($"IndexTensor.FromArray: shape {ShapeMath.Format(shape)} needs {n} indices but data has {data.Length}.", nameof(data));
        }

        return new IndexTensor((long[])data.Clone(), (int[])shape.Clone());
    }

    /// <summary>A one-dimensional index tensor.</summary>
    public static IndexTensor FromArray(long[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return FromArray(data, [data.Length]);
    }

    /// <summary>Indices given as <c>int</c>s, in the given shape.</summary>
    public static IndexTensor FromArray(int[] data, int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        return FromArray(Array.ConvertAll(data, static i => (long)i), shape);
    }

    /// <summary>A one-dimensional index tensor from <c>int</c>s.</summary>
    public static IndexTensor FromArray(int[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return FromArray(data, [data.Length]);
    }

    public override string ToString()
    {
        var sb = new StringBuilder("tensor([");
        var shown = Math.Min(_data.Length, 20);
        for (var i = 0; i < shown; i++)
        {
            sb.Append(i > 0 ? ", " : "").Append(_data[i]);
        }

        if (shown < _data.Length)
        {
            sb.Append(", ...");
        }

        return sb.Append("], shape=").Append(ShapeMath.Format(_shape)).Append(", dtype=int64)").ToString();
    }
}
