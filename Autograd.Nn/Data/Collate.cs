using System.Numerics;
using Autograd.Nn;

namespace Autograd.Data;

/// <summary>
/// Collate functions for <see cref="DataLoader{TSample, TBatch}"/> (PyTorch's <c>default_collate</c>): tensors are
/// stacked along a new first dimension, int labels gathered into an array, scalar targets into a [B] tensor, and a
/// tuple or array of tensors collated element by element. Pass the method group, <c>Collate.Default</c>; the
/// overload follows the sample type. Batches are fresh tensors that record no graph.
/// </summary>
public static class Collate
{
    /// <summary>Inputs stacked to [B, ...] and class labels to an array: the <see cref="Batch{T}"/> of <see cref="DataLoader{T}"/>.</summary>
    public static Batch<T> Default<T>(IReadOnlyList<(Tensor<T> X, int Label)> samples)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckNotEmpty(samples);
        var labels = new int[samples.Count];
        for (var i = 0; i < labels.Length; i++)
        {
            labels[i] = samples[i].Label;
        }

        return new Batch<T>(Stack(samples, s => s.X, "input"), labels);
    }

    /// <summary>Inputs and tensor targets (regression targets, masks, one-hot rows) each stacked to [B, ...].</summary>
    public static (Tensor<T> X, Tensor<T> Y) Default<T>(IReadOnlyList<(Tensor<T> X, Tensor<T> Y)> samples)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckNotEmpty(samples);
        return (Stack(samples, s => s.X, "input"), Stack(samples, s => s.Y, "target"));
    }

    /// <summary>Inputs stacked to [B, ...] and scalar targets gathered into a [B] tensor.</summary>
    public static (Tensor<T> X, Tensor<T> Y) Default<T>(IReadOnlyList<(Tensor<T> X, T Y)> samples)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckNotEmpty(samples);
        var y = new T[samples.Count];
        for (var i = 0; i < y.Length; i++)
        {
            y[i] = samples[i].Y;
        }

        return (Stack(samples, s => s.X, "input"), TensorMemory.Wrap(y, [y.Length]));
    }

    /// <summary>Samples that are one tensor each, stacked to [B, ...].</summary>
    public static Tensor<T> Default<T>(IReadOnlyList<Tensor<T>> samples)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckNotEmpty(samples);
        return Stack(samples, s => s, "sample");
    }

    /// <summary>Samples that are several tensors each (inputs and several targets): field j of every sample stacked to [B, ...].</summary>
    public static Tensor<T>[] Default<T>(IReadOnlyList<Tensor<T>[]> samples)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckNotEmpty(samples);
        var fields = samples[0]?.Length ?? throw new ArgumentException("Collate: sample 0 is null.", nameof(samples));
        for (var i = 0; i < samples.Count; i++)
        {
            if (samples[i] is not { } s || s.Length != fields)
            {
                throw new ArgumentException($"Collate: sample {i} has {samples[i]?.Length.ToString() ?? "no"} tensors but sample 0 has {fields}.", nameof(samples));
            }
        }

        var batch = new Tensor<T>[fields];
        for (var j = 0; j < fields; j++)
        {
            batch[j] = Stack(samples, s => s[j], $"tensor {j}");
        }

        return batch;
    }

    /// <summary>
    /// field(sample i) copied into row i of a new [B, ...] tensor (PyTorch's torch.stack, without recording): every
    /// sample's field must have the shape of sample 0's.
    /// </summary>
    private static Tensor<T> Stack<TSample, T>(IReadOnlyList<TSample> samples, Func<TSample, Tensor<T>> field, string what)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var first = field(samples[0]) ?? throw new ArgumentException($"Collate: the {what} of sample 0 is null.", nameof(samples));
        var shape = first.Shape;
        var size = first.Numel;
        var batch = Tensor<T>.Uninitialized([samples.Count, .. shape]);
        using var bw = batch.Write();
        var buffer = bw.Elements;
        for (var i = 0; i < samples.Count; i++)
        {
            var t = field(samples[i]) ?? throw new ArgumentException($"Collate: the {what} of sample {i} is null.", nameof(samples));
            if (!t.Shape.AsSpan().SequenceEqual(shape))
            {
                throw new ArgumentException(
                    $"Collate: the {what} of sample {i} has shape {ShapeMath.Format(t.Shape)} but that of sample 0 has {ShapeMath.Format(shape)}; stacked tensors must have one shape.",
                    nameof(samples));
            }

            using var r = t.Read();
            r.ContiguousElements.CopyTo(buffer.Slice(i * size, size));
        }

        return batch;
    }

    private static void CheckNotEmpty<TSample>(IReadOnlyList<TSample> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.Count == 0)
        {
            throw new ArgumentException("Collate: got no samples.", nameof(samples));
        }
    }
}
