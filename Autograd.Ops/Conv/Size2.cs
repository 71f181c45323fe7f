namespace Autograd;

/// <summary>
/// A (height, width) pair for kernel sizes, strides, paddings and dilations. Converts implicitly
/// from one int (both sides) and from an (h, w) tuple, so <c>stride: 2</c> and <c>stride: (2, 1)</c>
/// both read as in PyTorch.
/// </summary>
public readonly record struct Size2(int H, int W)
{
    public static implicit operator Size2(int size) => new(size, size);

    public static implicit operator Size2((int H, int W) size) => new(size.H, size.W);

    /// <summary>True when both sides are positive.</summary>
    public bool IsPositive => H > 0 && W > 0;

    public override string ToString() => $"({H}, {W})";
}
