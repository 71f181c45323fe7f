namespace Autograd.Data;

/// <summary>What every loader has: a batch size, a count of batches per epoch, and the epoch its next enumeration will be.</summary>
public interface IDataLoader
{
    int BatchSize { get; }

    /// <summary>Batches per epoch.</summary>
    int Count { get; }

    /// <summary>The epoch the next enumeration will be (a checkpoint saves and restores it).</summary>
    int Epoch { get; set; }
}

/// <summary>The sample order of one epoch, shared by the loaders.</summary>
internal static class LoaderOrder
{
    /// <summary>
    /// A seeded permutation when shuffling (epoch e: SplitMix64 state seed + e), the sampler's indices after
    /// <see cref="Sampler.SetEpoch"/> (checked against its Count and the data set's length), or null for 0..n − 1.
    /// </summary>
    public static int[]? Of(int datasetCount, bool shuffle, ulong seed, Sampler? sampler, int epoch)
    {
        if (shuffle)
        {
            return RandomSampler.Permutation(datasetCount, seed + (ulong)epoch);
        }

        if (sampler is null)
        {
            return null;
        }

        sampler.SetEpoch(epoch);
        var order = sampler.ToArray();
        if (order.Length != sampler.Count)
        {
            throw new InvalidOperationException($"DataLoader: the sampler ({sampler.GetType().Name}) says Count {sampler.Count} but yielded {order.Length} indices.");
        }

        foreach (var index in order)
        {
            if ((uint)index >= (uint)datasetCount)
            {
                throw new InvalidOperationException($"DataLoader: the sampler ({sampler.GetType().Name}) yielded index {index} for a data set of {datasetCount} samples.");
            }
        }

        return order;
    }

    /// <summary>Checks the arguments every loader shares.</summary>
    public static void Check(int batchSize, bool shuffle, Sampler? sampler)
    {
        if (batchSize < 1)
        {
            throw new ArgumentException($"DataLoader: batch size must be positive, got {batchSize}.", nameof(batchSize));
        }

        if (sampler is not null && shuffle)
        {
            throw new ArgumentException("DataLoader: sampler is mutually exclusive with shuffle (shuffle in the sampler instead).", nameof(sampler));
        }
    }

    /// <summary>Batches per epoch: ⌈n / B⌉, or ⌊n / B⌋ with dropLast.</summary>
    public static int Batches(int samples, int batchSize, bool dropLast) => dropLast ? samples / batchSize : (samples + batchSize - 1) / batchSize;
}
