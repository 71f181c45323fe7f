using System.Collections;
using System.Numerics;
using Autograd.Nn;

namespace Autograd.Data;

/// <summary>One batch: inputs [B, ...] and their B class labels.</summary>
public readonly record struct Batch<T>(Tensor<T> X, int[] Y)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Number of samples (B; the last batch of an epoch may be smaller).</summary>
    public int Count => Y.Length;
}

/// <summary>
/// Batches of a <see cref="TensorDataset{T}"/> (PyTorch's <c>DataLoader</c>): each enumeration is one
/// epoch, optionally shuffled by a seeded permutation, with the last partial batch kept unless
/// <c>dropLast</c>.
/// </summary>
/// <remarks>
/// <para>Shuffling: epoch e (the e-th enumeration, counting from 0; see <see cref="Epoch"/>) visits the
/// samples in <see cref="Permutation"/>(N, seed + e), a Fisher-Yates shuffle driven by SplitMix64 —
/// the portable generator of the peers' recipe, so the batches are the same as theirs for the same
/// seed (WORKLOADS.md §7 uses seed 1000).</para>
/// <para>Who owns a batch: with <c>reuseBuffers</c> (the default) the loader gathers each batch into
/// the same buffers, one copy per sample, so a training loop allocates nothing per step. A batch is
/// then valid until the next batch is requested: the next one overwrites it. Copy what you keep
/// (<c>batch.X.Clone()</c>, <c>(int[])batch.Y.Clone()</c>). The overwrite bumps the buffer's version
/// counter, so a graph that saved a stale batch is detectable. Pass <c>reuseBuffers: false</c> to get
/// fresh arrays for every batch. One enumeration at a time per loader.</para>
/// </remarks>
public sealed class DataLoader<T> : IDataLoader, IEnumerable<Batch<T>>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly TensorDataset<T> _dataset;
    private readonly Sampler? _sampler;
    private readonly int _sampleSize;
    private readonly bool _reuse;
    private Tensor<T>? _full;
    private int[]? _fullLabels;
    private int[]? _lastLabels;

    /// <summary>
    /// A loader over <paramref name="dataset"/>. A <paramref name="sampler"/> sets the order of the sample indices
    /// (e.g. a distributed sampler); it is mutually exclusive with <paramref name="shuffle"/>, as in PyTorch, and its
    /// <see cref="Sampler.SetEpoch"/> is called with <see cref="Epoch"/> at the start of each enumeration.
    /// </summary>
    public DataLoader(TensorDataset<T> dataset, int batchSize, bool shuffle = false, bool dropLast = false, ulong seed = 0, bool reuseBuffers = true, Sampler? sampler = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        LoaderOrder.Check(batchSize, shuffle, sampler);
        _sampler = sampler;

        _dataset = dataset;
        BatchSize = batchSize;
        Shuffle = shuffle;
        DropLast = dropLast;
        Seed = seed;
        _reuse = reuseBuffers;
        _sampleSize = ShapeMath.Numel(dataset.SampleShape);
    }

    public int BatchSize { get; }

    public bool Shuffle { get; }

    public bool DropLast { get; }

    /// <summary>Epoch e is shuffled with SplitMix64 state <c>Seed + e</c>.</summary>
    public ulong Seed { get; }

    /// <summary>The epoch the next enumeration will be (incremented by each enumeration; set it to replay or resume).</summary>
    public int Epoch { get; set; }

    /// <summary>The sampler given at construction, if any.</summary>
    public Sampler? Sampler => _sampler;

    /// <summary>Batches per epoch: ⌈N / B⌉, or ⌊N / B⌋ with dropLast, N the data set's length or the sampler's count.</summary>
    public int Count => LoaderOrder.Batches(Samples, BatchSize, DropLast);

    private int Samples => _sampler?.Count ?? _dataset.Count;

    /// <summary>The permutation of 0..n−1 for SplitMix64 state <paramref name="state"/> (<see cref="RandomSampler.Permutation"/>).</summary>
    public static int[] Permutation(int n, ulong state) => RandomSampler.Permutation(n, state);

    public IEnumerator<Batch<T>> GetEnumerator()
    {
        // The order is fixed when the enumeration starts, so Epoch counts enumerations, not MoveNext calls.
        var order = LoaderOrder.Of(_dataset.Count, Shuffle, Seed, _sampler, Epoch++);
        return Batches(order);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private IEnumerator<Batch<T>> Batches(int[]? order)
    {
        var n = order?.Length ?? _dataset.Count;
        for (var start = 0; start < n; start += BatchSize)
        {
            var count = Math.Min(BatchSize, n - start);
            if (count < BatchSize && DropLast)
            {
                yield break;
            }

            yield return Gather(order, start, count);
        }
    }

    /// <summary>Copies samples order[start..start+count) into the batch buffer: one copy per sample, straight from the data set.</summary>
    private Batch<T> Gather(int[]? order, int start, int count)
    {
        var labels = _dataset.Labels;
        Tensor<T> batch;
        int[] y;
        if (_reuse)
        {
            // One tensor over the reused buffer; the partial last batch is a view of its first rows.
            _full ??= TensorMemory.Wrap(new T[BatchSize * _sampleSize], [BatchSize, .. _dataset.SampleShape]);
            batch = _full;
            y = count == BatchSize ? _fullLabels ??= new int[count] : (_lastLabels is { } last && last.Length == count ? last : _lastLabels = new int[count]);
        }
        else
        {
            // A fresh batch from the pool: it goes back when the caller drops the batch (and every view of it).
            batch = Tensor<T>.Uninitialized([count, .. _dataset.SampleShape]);
            y = new int[count];
        }

        using (var fr = _dataset.Features.Read())
        using (var bw = batch.Write())
        {
            var features = fr.ContiguousElements;
            var buffer = bw.Elements;
            for (var i = 0; i < count; i++)
            {
                var index = order is null ? start + i : order[start + i];
                features.Slice(index * _sampleSize, _sampleSize).CopyTo(buffer.Slice(i * _sampleSize, _sampleSize));
                y[i] = labels[index];
            }
        }

        if (!_reuse)
        {
            return new Batch<T>(batch, y);
        }

        TensorMemory.Written(batch);
        return new Batch<T>(count == BatchSize ? batch : batch.Narrow(0, 0, count), y);
    }
}
