using System.Collections;

namespace Autograd.Data;

/// <summary>
/// The order in which a <see cref="DataLoader{T}"/> visits sample indices (PyTorch's
/// <c>torch.utils.data.Sampler</c>): one enumeration is one epoch.
/// </summary>
/// <remarks>
/// A loader given a sampler calls <see cref="SetEpoch"/> with its own <see cref="DataLoader{T}.Epoch"/> at the
/// start of every enumeration, so a sampler that shuffles per epoch (a distributed sampler, say) sees the epoch
/// without the training loop calling it. Enumerating a sampler by hand, call <see cref="SetEpoch"/> yourself,
/// as with PyTorch's <c>DistributedSampler.set_epoch</c>.
/// </remarks>
public abstract class Sampler : IEnumerable<int>
{
    /// <summary>How many indices one epoch yields (PyTorch's <c>__len__</c>).</summary>
    public abstract int Count { get; }

    /// <summary>The epoch the next enumeration belongs to (0 until set).</summary>
    public int Epoch { get; private set; }

    /// <summary>Sets the epoch of the next enumeration; samplers that shuffle derive their order from it.</summary>
    public virtual void SetEpoch(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        Epoch = epoch;
    }

    /// <summary>The indices of one epoch, in order.</summary>
    public abstract IEnumerator<int> GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>0, 1, …, n − 1 every epoch (PyTorch's <c>SequentialSampler</c>).</summary>
public sealed class SequentialSampler : Sampler
{
    public SequentialSampler(int length)
    {
        if (length < 0)
        {
            throw new ArgumentException($"SequentialSampler: length must be non-negative, got {length}.", nameof(length));
        }

        Count = length;
    }

    public override int Count { get; }

    public override IEnumerator<int> GetEnumerator()
    {
        for (var i = 0; i < Count; i++)
        {
            yield return i;
        }
    }
}

/// <summary>
/// A seeded permutation of 0..n − 1, a new one each epoch (PyTorch's <c>RandomSampler</c> without
/// replacement): epoch e visits <see cref="Permutation"/>(n, seed + e).
/// </summary>
public sealed class RandomSampler : Sampler
{
    public RandomSampler(int length, ulong seed = 0)
    {
        if (length < 0)
        {
            throw new ArgumentException($"RandomSampler: length must be non-negative, got {length}.", nameof(length));
        }

        Count = length;
        Seed = seed;
    }

    public override int Count { get; }

    /// <summary>Epoch e is shuffled with SplitMix64 state <c>Seed + e</c>.</summary>
    public ulong Seed { get; }

    /// <summary>
    /// The permutation of 0..n−1 for SplitMix64 state <paramref name="state"/>: p = [0..n−1]; for i = n−1
    /// down to 1: j = next() mod (i + 1), swap p[i] and p[j] (Fisher-Yates). WORKLOADS.md §7 spells out the
    /// same algorithm so that every implementation shuffles identically.
    /// </summary>
    public static int[] Permutation(int n, ulong state)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        var p = new int[n];
        for (var i = 0; i < n; i++)
        {
            p[i] = i;
        }

        for (var i = n - 1; i >= 1; i--)
        {
            var j = (int)(Generator.SplitMix(ref state) % (ulong)(i + 1));
            (p[i], p[j]) = (p[j], p[i]);
        }

        return p;
    }

    public override IEnumerator<int> GetEnumerator() => ((IEnumerable<int>)Permutation(Count, Seed + (ulong)Epoch)).GetEnumerator();
}
