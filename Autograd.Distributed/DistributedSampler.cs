using Autograd.Data;

namespace Autograd.Distributed;

/// <summary>
/// This rank's share of a data set, for a <see cref="DataLoader{T}"/> (<c>sampler:</c>), as PyTorch's
/// <c>DistributedSampler</c>: every rank builds the same order (the same <see cref="RandomSampler.Permutation"/>
/// of seed + epoch, so every rank must pass the same seed), pads it by repeating its start (or, with
/// <c>dropLast</c>, cuts it) to a multiple of the number of replicas, and takes every
/// <c>numReplicas</c>-th index from its rank on. Every rank gets the same <see cref="Count"/>, so they all
/// run the same number of steps. The loader calls <see cref="Sampler.SetEpoch"/> each epoch.
/// </summary>
/// <remarks>
/// With a per-rank batch b on R ranks, step k of rank r takes positions kRb + r, kRb + r + R, …: together
/// the ranks take exactly positions kRb … (k + 1)Rb − 1 of the epoch's order, the batch a single process with
/// batch Rb and the same shuffle takes at step k.
/// </remarks>
public sealed class DistributedSampler : Sampler
{
    /// <param name="length">Samples in the data set.</param>
    /// <param name="numReplicas">Ranks sharing it; the world size by default.</param>
    /// <param name="rank">This rank; <see cref="ProcessGroup.World"/>'s by default.</param>
    /// <param name="shuffle">Shuffle each epoch (else 0 … length − 1).</param>
    /// <param name="seed">The SplitMix64 state of epoch 0 (epoch e uses seed + e); the same on every rank.</param>
    /// <param name="dropLast">Cut the order to a multiple of numReplicas instead of padding it.</param>
    public DistributedSampler(int length, int? numReplicas = null, int? rank = null, bool shuffle = true, ulong seed = 0, bool dropLast = false)
    {
        if (length < 0)
        {
            throw new ArgumentException($"DistributedSampler: length must be non-negative, got {length}.", nameof(length));
        }

        var replicas = numReplicas ?? ProcessGroup.World.WorldSize;
        if (replicas < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(numReplicas), replicas, $"DistributedSampler: numReplicas must be at least 1, got {replicas}.");
        }

        var r = rank ?? ProcessGroup.World.Rank;
        if ((uint)r >= (uint)replicas)
        {
            throw new ArgumentOutOfRangeException(nameof(rank), r, $"DistributedSampler: rank must be in 0 … {replicas - 1} for {replicas} replicas, got {r}.");
        }

        if (dropLast && length < replicas && length > 0)
        {
            throw new ArgumentException($"DistributedSampler: dropLast with {length} samples over {replicas} replicas leaves every rank nothing.", nameof(dropLast));
        }

        Length = length;
        NumReplicas = replicas;
        Rank = r;
        Shuffle = shuffle;
        Seed = seed;
        DropLast = dropLast;
        Count = dropLast ? length / replicas : (length + replicas - 1) / replicas;
    }

    /// <summary>Samples this rank yields per epoch (the same on every rank).</summary>
    public override int Count { get; }

    /// <summary>Samples in the whole data set.</summary>
    public int Length { get; }

    public int NumReplicas { get; }

    public int Rank { get; }

    public bool Shuffle { get; }

    public ulong Seed { get; }

    public bool DropLast { get; }

    public override IEnumerator<int> GetEnumerator()
    {
        var order = Shuffle ? RandomSampler.Permutation(Length, Seed + (ulong)Epoch) : [.. Enumerable.Range(0, Length)];
        for (var k = 0; k < Count; k++)
        {
            // Padding repeats the order from its start (more than once when it is shorter than the padding).
            yield return order[(Rank + k * NumReplicas) % Length];
        }
    }
}
