using System.Collections;

namespace Autograd;

/// <summary>
/// A tensor's sizes as PyTorch's <c>torch.Size</c>, from <c>x.Size()</c>: prints as <c>[2, 3]</c>, compares by
/// value, indexes from the end with negative positions, and converts to <c>int[]</c>.
/// </summary>
/// <remarks>
/// <c>Shape</c> stays an <c>int[]</c> (a copy), so code that indexes, spreads or passes it keeps compiling; a .NET
/// array prints as <c>System.Int32[]</c>, so <c>Size()</c> is the one to print or compare:
/// <c>Console.WriteLine(x.Size())</c>, <c>x.Size() == y.Size()</c>.
/// </remarks>
public readonly struct Size : IReadOnlyList<int>, IEquatable<Size>
{
    private readonly int[]? _dims;

    /// <summary>Sizes (copied).</summary>
    public Size(params int[] dims)
    {
        ArgumentNullException.ThrowIfNull(dims);
        _dims = (int[])dims.Clone();
    }

    private int[] Dims => _dims ?? [];

    /// <summary>The number of dimensions.</summary>
    public int Count => Dims.Length;

    /// <summary>The size of dimension <paramref name="dim"/> (negative counts from the end).</summary>
    public int this[int dim] =>
        dim >= -Count && dim < Count
            ? Dims[dim < 0 ? dim + Count : dim]
            : throw new ArgumentOutOfRangeException(nameof(dim), dim, $"Size: dim {dim} is out of range for size {this} (expected {-Count}..{Count - 1}).");

    /// <summary>The number of elements, the product of the sizes (PyTorch's <c>Size.numel()</c>).</summary>
    public int Numel() => ShapeMath.Numel(Dims);

    /// <summary>The sizes as a new array.</summary>
    public int[] ToArray() => (int[])Dims.Clone();

    public static implicit operator int[](Size size) => size.ToArray();

    /// <summary><c>[2, 3]</c>; <c>[]</c> for a scalar.</summary>
    public override string ToString() => ShapeMath.Format(Dims);

    public bool Equals(Size other) => Dims.AsSpan().SequenceEqual(other.Dims);

    public override bool Equals(object? obj) => obj is Size other && Equals(other);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var d in Dims)
        {
            hash.Add(d);
        }

        return hash.ToHashCode();
    }

    public static bool operator ==(Size left, Size right) => left.Equals(right);

    public static bool operator !=(Size left, Size right) => !left.Equals(right);

    public IEnumerator<int> GetEnumerator() => ((IEnumerable<int>)Dims).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
