using System.Numerics;
using Autograd.Nn;

namespace Autograd.Data;

/// <summary>
/// A function of one sample's image, [..., H, W] (torchvision's transforms on tensors). Random transforms draw from
/// the generator they are given, so a <see cref="TransformDataset{T, TLabel}"/> that derives one generator per
/// sample and epoch gives the same samples on every run and with any number of loader workers.
/// </summary>
public abstract class Transform<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The transformed image, a new tensor (the input is not modified); random draws come from <paramref name="generator"/>.</summary>
    public abstract Tensor<T> Apply(Tensor<T> input, Generator generator);

    /// <summary>The transformed image, drawing from <see cref="Tensor.DefaultGenerator"/>.</summary>
    public Tensor<T> Apply(Tensor<T> input) => Apply(input, Tensor.DefaultGenerator);

    /// <summary>The name used in error messages.</summary>
    private protected string Name => GetType().Name.Split('`')[0];

    /// <summary>Checks the argument and that it has at least <paramref name="rank"/> dimensions; returns (H, W) of an image.</summary>
    private protected (int H, int W) Image(Tensor<T> input, Generator generator, int rank = 2)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(generator);
        if (input.Rank < rank)
        {
            throw new ArgumentException($"{Name}: expected an image [..., H, W] of at least {rank} dimensions, got shape {ShapeMath.Format(input.Shape)}.", nameof(input));
        }

        return (input.Size(-2), input.Size(-1));
    }
}

/// <summary>Applies transforms one after the other, all drawing from the same generator (torchvision's <c>Compose</c>).</summary>
public sealed class Compose<T> : Transform<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Transform<T>[] _transforms;

    public Compose(params IEnumerable<Transform<T>> transforms)
    {
        ArgumentNullException.ThrowIfNull(transforms);
        _transforms = [.. transforms];
        for (var i = 0; i < _transforms.Length; i++)
        {
            if (_transforms[i] is null)
            {
                throw new ArgumentException($"Compose: transform {i} is null.", nameof(transforms));
            }
        }
    }

    public IReadOnlyList<Transform<T>> Transforms => _transforms;

    public override Tensor<T> Apply(Tensor<T> input, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(generator);
        foreach (var transform in _transforms)
        {
            input = transform.Apply(input, generator);
        }

        return input;
    }
}

/// <summary>
/// Crops a random <c>size</c> window of the image after padding every side by <c>padding</c> with <c>fill</c>
/// (torchvision's <c>RandomCrop(size, padding, fill=fill)</c>, constant padding): with H′ = H + 2·padding,
/// W′ = W + 2·padding, the top row i is drawn uniform in [0, H′ − h] and then the left column j in [0, W′ − w], and
/// out[..., y, x] = padded[..., i + y, j + x]. A window the size of the padded image is taken without a draw, as
/// torchvision does.
/// </summary>
public sealed class RandomCrop<T> : Transform<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public RandomCrop(int size, int padding = 0, double fill = 0)
        : this((size, size), padding, fill)
    {
    }

    public RandomCrop((int Height, int Width) size, int padding = 0, double fill = 0)
    {
        if (size.Height < 1 || size.Width < 1 || padding < 0 || !double.IsFinite(fill))
        {
            throw new ArgumentException($"RandomCrop: size must be positive, padding non-negative and fill finite, got size ({size.Height}, {size.Width}), padding {padding}, fill {fill}.", nameof(size));
        }

        Size = size;
        Padding = padding;
        Fill = fill;
    }

    public (int Height, int Width) Size { get; }

    public int Padding { get; }

    public double Fill { get; }

    public override Tensor<T> Apply(Tensor<T> input, Generator generator)
    {
        var (h, w) = Image(input, generator);
        var (ph, pw) = (h + 2 * Padding, w + 2 * Padding);
        var (th, tw) = Size;
        if (ph < th || pw < tw)
        {
            throw new ArgumentException(
                $"RandomCrop: required crop size ({th}, {tw}) is larger than the padded image ({ph}, {pw}) (input shape {ShapeMath.Format(input.Shape)}, padding {Padding}).", nameof(input));
        }

        var (top, left) = ph == th && pw == tw ? (0, 0) : (generator.NextInt(ph - th + 1), generator.NextInt(pw - tw + 1));
        return Crop(input, top - Padding, left - Padding, th, tw, T.CreateChecked(Fill));
    }

    /// <summary>out[..., y, x] = input[..., top + y, left + x], or fill outside the input.</summary>
    internal static Tensor<T> Crop(Tensor<T> input, int top, int left, int height, int width, T fill)
    {
        var (h, w) = (input.Size(-2), input.Size(-1));
        var planes = input.Numel / Math.Max(1, h * w);
        var output = Tensor<T>.Uninitialized([.. input.Shape[..^2], height, width]);
        using var r = input.Read();
        using var ow = output.Write();
        var src = r.ContiguousElements;
        var dst = ow.Elements;
        for (var c = 0; c < planes; c++)
        {
            for (var y = 0; y < height; y++)
            {
                var row = dst.Slice((c * height + y) * width, width);
                var sy = top + y;
                if ((uint)sy >= (uint)h)
                {
                    row.Fill(fill);
                    continue;
                }

                // Columns left + x in [0, w) come from the input, the rest are fill.
                var x0 = Math.Clamp(-left, 0, width);
                var x1 = Math.Clamp(w - left, x0, width);
                row[..x0].Fill(fill);
                src.Slice((c * h + sy) * w + left + x0, x1 - x0).CopyTo(row[x0..x1]);
                row[x1..].Fill(fill);
            }
        }

        return output;
    }
}

/// <summary>Mirrors the image left to right with probability p (torchvision's <c>RandomHorizontalFlip</c>: flip when a uniform draw is &lt; p).</summary>
public sealed class RandomHorizontalFlip<T> : Transform<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public RandomHorizontalFlip(double p = 0.5)
    {
        if (!(p >= 0 && p <= 1))
        {
            throw new ArgumentException($"RandomHorizontalFlip: probability must be in [0, 1], got {p}.", nameof(p));
        }

        P = p;
    }

    public double P { get; }

    public override Tensor<T> Apply(Tensor<T> input, Generator generator)
    {
        var (_, w) = Image(input, generator);
        var flip = generator.NextDouble() < P;
        var output = Tensor<T>.Uninitialized(input.Shape);
        using var r = input.Read();
        using var ow = output.Write();
        var src = r.ContiguousElements;
        var dst = ow.Elements;
        src.CopyTo(dst);
        if (flip && w > 0)
        {
            // out[..., y, x] = in[..., y, W − 1 − x], one row at a time.
            for (var start = 0; start < dst.Length; start += w)
            {
                dst.Slice(start, w).Reverse();
            }
        }

        return output;
    }
}

/// <summary>
/// out[c] = (in[c] − mean[c]) / std[c] for each channel c of an image [..., C, H, W] (torchvision's <c>Normalize</c>);
/// a single mean or std applies to every channel.
/// </summary>
public sealed class Normalize<T> : Transform<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly double[] _mean;
    private readonly double[] _std;

    public Normalize(IReadOnlyList<double> mean, IReadOnlyList<double> std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Count == 0 || std.Count == 0 || mean.Any(m => !double.IsFinite(m)) || std.Any(s => !(s != 0) || !double.IsFinite(s)))
        {
            throw new ArgumentException(
                $"Normalize: mean and std must be non-empty and finite, std non-zero; got mean [{string.Join(", ", mean)}], std [{string.Join(", ", std)}].", nameof(std));
        }

        _mean = [.. mean];
        _std = [.. std];
    }

    public IReadOnlyList<double> Mean => _mean;

    public IReadOnlyList<double> Std => _std;

    public override Tensor<T> Apply(Tensor<T> input, Generator generator)
    {
        var (h, w) = Image(input, generator, rank: 3);
        var channels = input.Size(-3);
        foreach (var (name, values) in new[] { ("mean", _mean), ("std", _std) })
        {
            if (values.Length != 1 && values.Length != channels)
            {
                throw new ArgumentException($"Normalize: {values.Length} {name} values for an image of {channels} channels (shape {ShapeMath.Format(input.Shape)}).", nameof(input));
            }
        }

        var output = Tensor<T>.Uninitialized(input.Shape);
        using var r = input.Read();
        using var ow = output.Write();
        var src = r.ContiguousElements;
        var dst = ow.Elements;
        var plane = h * w;
        for (var p = 0; p * plane < dst.Length; p++)
        {
            var c = p % channels;
            var mean = T.CreateChecked(_mean[_mean.Length == 1 ? 0 : c]);
            var std = T.CreateChecked(_std[_std.Length == 1 ? 0 : c]);
            var d = dst.Slice(p * plane, plane);
            System.Numerics.Tensors.TensorPrimitives.Subtract(src.Slice(p * plane, plane), mean, d);
            System.Numerics.Tensors.TensorPrimitives.Divide(d, std, d);
        }

        return output;
    }
}

/// <summary>
/// Applies a transform to the input of each (input, label) sample of another data set (torchvision's
/// <c>transform=</c> argument). Sample i of epoch e draws from a generator seeded by (seed, e, i), so the
/// augmentation is reproducible, changes every epoch, and does not depend on the loader's workers or on the order
/// in which samples are fetched.
/// </summary>
public sealed class TransformDataset<T, TLabel> : Dataset<(Tensor<T> X, TLabel Label)>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Dataset<(Tensor<T> X, TLabel Label)> _source;
    private int _epoch;

    public TransformDataset(Dataset<(Tensor<T> X, TLabel Label)> source, Transform<T> transform, ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(transform);
        _source = source;
        Transform = transform;
        Seed = seed;
    }

    public Transform<T> Transform { get; }

    public ulong Seed { get; }

    public override int Count => _source.Count;

    public override (Tensor<T> X, TLabel Label) this[int index]
    {
        get
        {
            CheckIndex(index);
            var (x, label) = _source[index];
            return (Transform.Apply(x, SampleGenerator(Seed, _epoch, index)), label);
        }
    }

    public override void SetEpoch(int epoch)
    {
        base.SetEpoch(epoch);
        _source.SetEpoch(epoch);
        _epoch = epoch;
    }

    /// <summary>The generator of sample <paramref name="index"/> in <paramref name="epoch"/>: SplitMix64 mixes of the three, so nearby seeds, epochs and indices give unrelated streams.</summary>
    internal static Generator SampleGenerator(ulong seed, int epoch, int index)
    {
        var s = seed;
        var a = Generator.SplitMix(ref s);
        s = a ^ (ulong)epoch;
        var b = Generator.SplitMix(ref s);
        s = b ^ (ulong)index;
        return new Generator(Generator.SplitMix(ref s));
    }
}
