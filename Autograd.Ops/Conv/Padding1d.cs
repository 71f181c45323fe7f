namespace Autograd;

/// <summary>
/// The padding of a 1-D convolution, as PyTorch accepts it: an int (both ends) or the strings
/// <c>"valid"</c> (no padding) and <c>"same"</c> (output as long as the input; stride 1 only). Converts
/// implicitly from each of those.
/// </summary>
public readonly struct Padding1d : IEquatable<Padding1d>
{
    private readonly Padding2d _padding;

    private Padding1d(Padding2d padding, int size)
    {
        _padding = padding;
        Size = size;
    }

    /// <summary>The explicit padding per end (zero for "same" and "valid").</summary>
    public int Size { get; }

    /// <summary>The string it was made from, when it was made from one (<c>"same"</c>, <c>"valid"</c> or an unknown string the op rejects).</summary>
    public string? Mode => _padding.Mode;

    public static implicit operator Padding1d(int size) => new((0, size), size);

    public static implicit operator Padding1d(string mode) => new(mode, 0);

    /// <summary>The padding of the equivalent 2-D convolution over [N, C, 1, L]: none along the height.</summary>
    internal Padding2d As2d() => _padding;

    public bool Equals(Padding1d other) => _padding.Equals(other._padding);

    public override bool Equals(object? obj) => obj is Padding1d other && Equals(other);

    public override int GetHashCode() => _padding.GetHashCode();

    public static bool operator ==(Padding1d left, Padding1d right) => left.Equals(right);

    public static bool operator !=(Padding1d left, Padding1d right) => !left.Equals(right);

    /// <summary>As PyTorch prints it: <c>(2,)</c>, <c>same</c>.</summary>
    public override string ToString() => Mode ?? $"({Size},)";
}
