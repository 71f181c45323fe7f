using System.Globalization;
using System.Numerics;

namespace Autograd.Nn;

/// <summary>
/// Up-sampling (PyTorch's <c>nn.Upsample</c>): <c>Tensor.Interpolate</c> with the constructor's size or scale
/// factor, mode (<c>"nearest"</c>, <c>"linear"</c>, <c>"bilinear"</c>) and alignCorners. No parameters.
/// </summary>
public sealed class Upsample<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int[]? _size;
    private readonly double[]? _scaleFactor;

    /// <summary>To a fixed output <paramref name="size"/> (one value per spatial dimension, or one for all), or by <paramref name="scaleFactor"/>.</summary>
    public Upsample(int[]? size = null, double[]? scaleFactor = null, string mode = "nearest", bool? alignCorners = null)
    {
        ArgumentNullException.ThrowIfNull(mode);
        if ((size is null) == (scaleFactor is null))
        {
            throw new ArgumentException($"Upsample: give exactly one of size and scaleFactor (mode \"{mode}\").", size is null ? nameof(size) : nameof(scaleFactor));
        }

        if (mode is not ("nearest" or "linear" or "bilinear"))
        {
            throw new ArgumentException($"Upsample: mode must be \"nearest\", \"linear\" or \"bilinear\", got \"{mode}\".", nameof(mode));
        }

        if (mode == "nearest" && alignCorners is not null)
        {
            throw new ArgumentException("Upsample: alignCorners can only be set with the linear modes (\"linear\", \"bilinear\").", nameof(alignCorners));
        }

        _size = (int[]?)size?.Clone();
        _scaleFactor = (double[]?)scaleFactor?.Clone();
        Mode = mode;
        AlignCorners = alignCorners;
    }

    /// <summary>By one <paramref name="scaleFactor"/> for every spatial dimension: <c>new Upsample&lt;float&gt;(scaleFactor: 2, mode: "bilinear")</c>.</summary>
    public Upsample(double scaleFactor, string mode = "nearest", bool? alignCorners = null)
        : this(null, [scaleFactor], mode, alignCorners)
    {
    }

    public int[]? Size => (int[]?)_size?.Clone();

    public double[]? ScaleFactor => (double[]?)_scaleFactor?.Clone();

    public string Mode { get; }

    public bool? AlignCorners { get; }

    protected override Tensor<T> ForwardCore(Tensor<T> input) => input.Interpolate(_size, _scaleFactor, Mode, AlignCorners);

    /// <summary>PyTorch's: <c>scale_factor=2.0, mode=bilinear</c> or <c>size=(4, 5), mode=nearest</c>.</summary>
    protected override string ExtraRepr()
    {
        static string Tuple<TValue>(TValue[] values, Func<TValue, string> format) =>
            values.Length == 1 ? format(values[0]) : $"({string.Join(", ", values.Select(format))})";

        var info = _scaleFactor is not null
            ? "scale_factor=" + Tuple(_scaleFactor, v => PyRepr.Float(v) + (v == Math.Floor(v) && double.IsFinite(v) && !PyRepr.Float(v).Contains('e') ? ".0" : ""))
            : "size=" + Tuple(_size!, v => v.ToString(CultureInfo.InvariantCulture));
        return info + ", mode=" + Mode;
    }
}
