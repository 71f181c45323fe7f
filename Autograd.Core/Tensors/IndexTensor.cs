using System.Numerics;
using System.Text;

namespace Autograd;

/// <summary>
/// A row-major tensor of <c>long</c> indices (PyTorch's int64 index tensors): the result of
/// <c>Argmax</c>/<c>Argmin</c> and the index argument of <c>Gather</c>, <c>ScatterAdd</c> and
/// <c>IndexSelect</c>. Indices are data, not differentiable values, so this type is separate from
/// <see cref="Tensor{T}"/> (which holds only float or double) and is never recorded on the tape.
/// It is immutable: the factories copy their input.
/// </summary>
/// <remarks>
/// Equality: <c>a == b</c>, <see cref="Equals(IndexTensor?)"/> and <see cref="GetHashCode"/> compare whole
/// index tensors, shape and values (PyTorch's <c>torch.equal</c>; sound because the type is immutable), never
/// references. PyTorch's elementwise <c>a == b</c> is <see cref="Eq(IndexTensor)"/>, which returns a 0/1 mask:
/// a C# <c>==</c> returning a tensor would break <c>== null</c>, <c>Equals</c> and hashing, and one returning
/// bool cannot be mistaken for a mask (<c>(a == b).Sum()</c> does not compile). Accuracy:
/// <c>logits.Argmax(1).Eq(labels).Float().Mean()</c>, or <c>.Eq(labels).Sum()</c> for the count.
/// </remarks>
public sealed class IndexTensor : IEquatable<IndexTensor>
{
    private readonly long[] _data;
    private readonly int[] _shape;

    internal IndexTensor(long[] data, int[] shape)
    {
        _data = data;
        _shape = shape;
    }

    /// <summary>Sizes of each dimension (a copy). To print or compare them, <see cref="Size"/>.</summary>
    public int[] Shape => (int[])_shape.Clone();

    /// <summary>The sizes as PyTorch's <c>idx.size()</c>: prints as <c>[2, 3]</c>, compares by value.</summary>
    public Size Size() => new(_shape);

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

    /// <summary>Mask of this == other, elementwise with broadcasting: 1 where equal, else 0 (PyTorch's <c>eq</c>).</summary>
    public IndexTensor Eq(IndexTensor other) => Compare(other, "Eq", equal: true);

    /// <summary>Mask of this == value.</summary>
    public IndexTensor Eq(long value) => Compare(new IndexTensor([value], []), "Eq", equal: true);

    /// <summary>Mask of this != other, elementwise with broadcasting.</summary>
    public IndexTensor Ne(IndexTensor other) => Compare(other, "Ne", equal: false);

    /// <summary>Mask of this != value.</summary>
    public IndexTensor Ne(long value) => Compare(new IndexTensor([value], []), "Ne", equal: false);

    private IndexTensor Compare(IndexTensor other, string op, bool equal)
    {
        ArgumentNullException.ThrowIfNull(other);
        var shape = ShapeMath.Broadcast(_shape, other._shape, $"IndexTensor.{op}");
        var result = new long[ShapeMath.Numel(shape)];
        var index = new int[shape.Length];
        for (var flat = 0; flat < result.Length; flat++)
        {
            result[flat] = (_data[BroadcastOffset(index, _shape)] == other._data[BroadcastOffset(index, other._shape)]) == equal ? 1 : 0;

            // Next row-major position of the result.
            for (var d = shape.Length - 1; d >= 0 && ++index[d] == shape[d]; d--)
            {
                index[d] = 0;
            }
        }

        return new IndexTensor(result, shape);
    }

    /// <summary>Row-major offset in a tensor of <paramref name="shape"/> broadcast to the position <paramref name="index"/> (aligned at the right).</summary>
    private static int BroadcastOffset(int[] index, int[] shape)
    {
        var at = 0;
        var lead = index.Length - shape.Length;
        for (var d = 0; d < shape.Length; d++)
        {
            at = at * shape[d] + (shape[d] == 1 ? 0 : index[lead + d]);
        }

        return at;
    }

    /// <summary>The sum of all indices (for a mask, the count of ones: <c>pred.Eq(labels).Sum()</c> counts the hits).</summary>
    public long Sum()
    {
        var total = 0L;
        foreach (var v in _data)
        {
            total += v;
        }

        return total;
    }

    /// <summary>
    /// The indices as values of a new tensor of <typeparamref name="T"/> (PyTorch's <c>idx.to(dtype)</c>), not
    /// recorded; a mask becomes a 0/1 float mask for <c>Mean</c>, <c>Where</c> or <c>Mul</c>.
    /// </summary>
    public Tensor<T> To<T>()
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = Tensor<T>.Uninitialized((int[])_shape.Clone());
        using var w = result.Write();
        var values = w.Elements;
        for (var i = 0; i < _data.Length; i++)
        {
            values[i] = T.CreateChecked(_data[i]);
        }

        return result;
    }

    /// <summary>PyTorch's <c>idx.float()</c>: <see cref="To{T}"/> with float32.</summary>
    public Tensor<float> Float() => To<float>();

    /// <summary>PyTorch's <c>idx.double()</c>: <see cref="To{T}"/> with float64.</summary>
    public Tensor<double> Double() => To<double>();

    /// <summary>Same shape and same indices (<c>torch.equal</c>); see the remarks on the type.</summary>
    public bool Equals(IndexTensor? other) =>
        other is not null && (ReferenceEquals(this, other) || (_shape.AsSpan().SequenceEqual(other._shape) && _data.AsSpan().SequenceEqual(other._data)));

    public override bool Equals(object? obj) => Equals(obj as IndexTensor);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var d in _shape)
        {
            hash.Add(d);
        }

        foreach (var v in _data)
        {
            hash.Add(v);
        }

        return hash.ToHashCode();
    }

    /// <summary>Whole-tensor equality, shape and values (<see cref="Equals(IndexTensor?)"/>); elementwise is <see cref="Eq(IndexTensor)"/>.</summary>
    public static bool operator ==(IndexTensor? left, IndexTensor? right) => left is null ? right is null : left.Equals(right);

    public static bool operator !=(IndexTensor? left, IndexTensor? right) => !(left == right);

    /// <summary>PyTorch's text (<c>tensor([3, 1, 4])</c>: aligned, wrapped at 80 columns, summarised over 1000 elements), with shape and dtype.</summary>
    public override string ToString() =>
        new StringBuilder("tensor(").Append(TensorText.Longs(_data, _shape, "tensor(".Length))
            .Append(", shape=").Append(ShapeMath.Format(_shape)).Append(", dtype=int64)").ToString();
}
