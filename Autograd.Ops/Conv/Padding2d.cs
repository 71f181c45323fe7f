namespace Autograd;

/// <summary>
/// The padding of a 2-D convolution, as PyTorch accepts it: an int (both sides), an (h, w) pair,
/// or the strings <c>"valid"</c> (no padding) and <c>"same"</c> (output as large as the input; stride 1
/// only). Converts implicitly from each of those.
/// </summary>
/// <remarks>
/// An unknown string is kept and rejected by the op that resolves the padding, so the error names
/// the op and the shapes like every other argument error.
/// </remarks>
public readonly struct Padding2d : IEquatable<Padding2d>
{
    private readonly Size2 _size;
    private readonly string? _mode;

    private Padding2d(Size2 size, string? mode)
    {
        _size = size;
        _mode = mode;
    }

    /// <summary>No padding (PyTorch's <c>padding="valid"</c>).</summary>
    public static Padding2d Valid => new(new Size2(0, 0), "valid");

    /// <summary>Pad so that the output has the input's size (PyTorch's <c>padding="same"</c>).</summary>
    public static Padding2d Same => new(new Size2(0, 0), "same");

    /// <summary>True for <c>"same"</c>.</summary>
    public bool IsSame => _mode == "same";

    /// <summary>True for <c>"valid"</c>.</summary>
    public bool IsValid => _mode == "valid";

    /// <summary>True for an explicit size (an int or an (h, w) pair).</summary>
    public bool IsExplicit => _mode is null;

    /// <summary>The explicit padding per side (zero for "same" and "valid", which are resolved per kernel).</summary>
    public Size2 Size => _size;

    /// <summary>The string it was made from, when it was made from one.</summary>
    public string? Mode => _mode;

    public static implicit operator Padding2d(int size) => new(size, null);

    public static implicit operator Padding2d((int H, int W) size) => new(size, null);

    public static implicit operator Padding2d(Size2 size) => new(size, null);

    public static implicit operator Padding2d(string mode)
    {
        ArgumentNullException.ThrowIfNull(mode);
        var m = mode.Trim().ToLowerInvariant();
        return new Padding2d(new Size2(0, 0), m is "same" or "valid" ? m : mode);
    }

    /// <summary>
    /// Padding before and after each spatial dimension. "same" pads dilation·(kernel − 1) in total
    /// per dimension, half before and the rest after (so an even kernel gets the extra one on the
    /// bottom/right, as PyTorch). Throws for a negative size, an unknown string, or "same" with stride ≠ 1.
    /// </summary>
    internal (int Top, int Bottom, int Left, int Right) Resolve(Size2 kernel, Size2 stride, Size2 dilation, string op, string shapes)
    {
        switch (_mode)
        {
            case null:
                if (_size.H < 0 || _size.W < 0)
                {
                    throw new ArgumentException($"{op}: padding must be non-negative, got {_size} {shapes}.", "padding");
                }

                return (_size.H, _size.H, _size.W, _size.W);
            case "valid":
                return (0, 0, 0, 0);
            case "same":
                if (stride != new Size2(1, 1))
                {
                    throw new ArgumentException($"{op}: padding \"same\" needs stride 1, got stride {stride} {shapes}.", "padding");
                }

                var totalH = (long)dilation.H * (kernel.H - 1);
                var totalW = (long)dilation.W * (kernel.W - 1);
                if (totalH > int.MaxValue || totalW > int.MaxValue)
                {
                    throw new ArgumentException($"{op}: padding \"same\" for kernel {kernel} at dilation {dilation} needs ({totalH}, {totalW}), more than {int.MaxValue} {shapes}.", "padding");
                }

                return ((int)(totalH / 2), (int)(totalH - totalH / 2), (int)(totalW / 2), (int)(totalW - totalW / 2));
            default:
                throw new ArgumentException(
                    $"{op}: padding \"{_mode}\" is not an int, an (h, w) pair, \"same\" or \"valid\" {shapes}.", "padding");
        }
    }

    public bool Equals(Padding2d other) => _size == other._size && _mode == other._mode;

    public override bool Equals(object? obj) => obj is Padding2d other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(_size, _mode);

    public static bool operator ==(Padding2d left, Padding2d right) => left.Equals(right);

    public static bool operator !=(Padding2d left, Padding2d right) => !left.Equals(right);

    public override string ToString() => _mode is null ? _size.ToString() : $"\"{_mode}\"";
}
