using System.Numerics;
using Autograd.Nn;

namespace Autograd.Data;

/// <summary>
/// A labelled data set held as one contiguous tensor of features [N, ...sample shape] and one array of
/// class labels (PyTorch's <c>TensorDataset</c> for classification). Holding the set in one array lets
/// a <see cref="DataLoader{T}"/> gather a batch with one copy per sample. It is a map-style
/// <see cref="Dataset{TSample}"/> of (features, label) pairs, so the general loader and transforms take it too.
/// </summary>
public sealed class TensorDataset<T> : Dataset<(Tensor<T> X, int Label)>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int[] _labels;

    /// <param name="features">[N, ...]: one sample per row of the first dimension (copied if not contiguous).</param>
    /// <param name="labels">N class indices.</param>
    public TensorDataset(Tensor<T> features, int[] labels)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        if (features.Rank < 1 || features.Size(0) != labels.Length)
        {
            throw new ArgumentException($"TensorDataset: features {ShapeMath.Format(features.Shape)} and {labels.Length} labels do not have the same number of samples.", nameof(labels));
        }

        Features = features.Detach().Contiguous();
        _labels = (int[])labels.Clone();
    }

    /// <summary>
    /// An image data set from IDX images [N, H, W] (or [N, C, H, W]) and labels [N], normalised once as
    /// x = (pixel / 255 − <paramref name="mean"/>) / <paramref name="std"/> into [N, C, H, W] (C = 1 for 3-D
    /// images), as torchvision's <c>ToTensor()</c> then <c>Normalize(mean, std)</c>.
    /// </summary>
    public static TensorDataset<T> FromIdx(IdxArray images, IdxArray labels, double mean = 0, double std = 1)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (images.Shape.Length is not (3 or 4))
        {
            throw new ArgumentException($"TensorDataset.FromIdx: images must be [N, H, W] or [N, C, H, W], got {ShapeMath.Format(images.Shape)}.", nameof(images));
        }

        if (labels.Shape.Length != 1 || labels.Count != images.Count)
        {
            throw new ArgumentException($"TensorDataset.FromIdx: {ShapeMath.Format(labels.Shape)} labels for {images.Count} images (shape {ShapeMath.Format(images.Shape)}); expected [{images.Count}].", nameof(labels));
        }

        if (!(std > 0) || !double.IsFinite(mean))
        {
            throw new ArgumentException($"TensorDataset.FromIdx: std must be positive and mean finite, got mean {mean}, std {std}.", nameof(std));
        }

        // (b/255 − mean)/std = b·scale + shift, computed in double and rounded once.
        var lookup = new T[256];
        for (var b = 0; b < 256; b++)
        {
            lookup[b] = T.CreateChecked((b / 255.0 - mean) / std);
        }

        var x = new T[images.Data.Length];
        for (var i = 0; i < x.Length; i++)
        {
            x[i] = lookup[images.Data[i]];
        }

        var shape = images.Shape.Length == 4 ? images.Shape : [images.Shape[0], 1, images.Shape[1], images.Shape[2]];
        var y = Array.ConvertAll(labels.Data, b => (int)b);
        return new TensorDataset<T>(TensorMemory.Wrap(x, (int[])shape.Clone()), y);
    }

    /// <summary>All samples, [N, ...].</summary>
    public Tensor<T> Features { get; }

    /// <summary>All labels (a read-only view).</summary>
    public ReadOnlySpan<int> Labels => _labels;

    /// <summary>Number of samples.</summary>
    public override int Count => _labels.Length;

    /// <summary>Shape of one sample (the features' shape without the first dimension).</summary>
    public int[] SampleShape => Features.Shape[1..];

    /// <summary>Sample <paramref name="index"/>: a view of its features and its label.</summary>
    public override (Tensor<T> X, int Label) this[int index]
    {
        get
        {
            CheckIndex(index);
            return (Features.Select(0, index), _labels[index]);
        }
    }

    /// <summary>The first <paramref name="count"/> samples as a new data set (a view of the same features).</summary>
    public TensorDataset<T> Take(int count)
    {
        if (count < 0 || count > Count)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"TensorDataset.Take: {count} of {Count} samples.");
        }

        return new TensorDataset<T>(Features.Narrow(0, 0, count), _labels[..count]);
    }
}
