using System.Collections;

namespace Autograd.Data;

/// <summary>
/// A map-style data set (PyTorch's <c>torch.utils.data.Dataset</c>): a length and an indexer from 0..Count − 1 to
/// a sample. A <see cref="DataLoader{TSample, TBatch}"/> batches any of them through a collate function.
/// </summary>
/// <remarks>
/// The indexer may be called from several threads at once when the loader has workers
/// (<c>numWorkers</c> &gt; 0), so it must not mutate shared state. Randomness that depends on the sample (an
/// augmentation) is drawn from a generator derived from the sample's index and the epoch
/// (<see cref="TransformDataset{T, TLabel}"/>), so the batches do not depend on which worker built them.
/// </remarks>
/// <typeparam name="TSample">One sample, for example <c>(Tensor&lt;float&gt; X, int Label)</c>.</typeparam>
public abstract class Dataset<TSample> : IReadOnlyList<TSample>
{
    /// <summary>Number of samples (PyTorch's <c>__len__</c>).</summary>
    public abstract int Count { get; }

    /// <summary>Sample <paramref name="index"/> (PyTorch's <c>__getitem__</c>); throws ArgumentOutOfRangeException outside 0..Count − 1.</summary>
    public abstract TSample this[int index] { get; }

    /// <summary>
    /// The epoch the next samples belong to. A loader calls it with its own epoch at the start of each enumeration
    /// (as it calls <see cref="Sampler.SetEpoch"/>); data sets whose samples vary by epoch (random augmentation)
    /// override it, and wrappers pass it on.
    /// </summary>
    public virtual void SetEpoch(int epoch) => ArgumentOutOfRangeException.ThrowIfNegative(epoch);

    public IEnumerator<TSample> GetEnumerator()
    {
        for (var i = 0; i < Count; i++)
        {
            yield return this[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Throws the data set's out-of-range error for <paramref name="index"/>.</summary>
    protected void CheckIndex(int index)
    {
        if ((uint)index >= (uint)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{GetType().Name.Split('`')[0]}: index {index} is out of range for {Count} samples.");
        }
    }
}

/// <summary>A data set over a list of samples held in memory (each sample as given; nothing is copied).</summary>
public sealed class ListDataset<TSample> : Dataset<TSample>
{
    private readonly TSample[] _samples;

    public ListDataset(IEnumerable<TSample> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        _samples = [.. samples];
    }

    public override int Count => _samples.Length;

    public override TSample this[int index]
    {
        get
        {
            CheckIndex(index);
            return _samples[index];
        }
    }
}
