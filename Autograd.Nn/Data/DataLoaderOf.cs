using System.Collections;
using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace Autograd.Data;

/// <summary>
/// Batches of any map-style <see cref="Dataset{TSample}"/> (PyTorch's <c>DataLoader</c>): each enumeration is one
/// epoch; the samples of a batch are fetched by index and merged by the collate function
/// (<see cref="Collate.Default{T}(IReadOnlyList{ValueTuple{Tensor{T}, int}})"/> and its overloads stack tensors and
/// labels), optionally on background threads.
/// </summary>
/// <remarks>
/// <para>Order: as <see cref="DataLoader{T}"/>: epoch e visits the samples in the SplitMix64 permutation of state
/// seed + e when shuffling, or in the sampler's order (after <see cref="Sampler.SetEpoch"/>), else 0..N − 1; the last
/// partial batch is kept unless <c>dropLast</c>. The data set's <see cref="Dataset{TSample}.SetEpoch"/> is told the
/// epoch too, so seeded augmentations change per epoch and replay on resume.</para>
/// <para>Workers (<c>numWorkers</c> &gt; 0, PyTorch's worker processes as threads): batch k is built by worker
/// k mod numWorkers, which keeps at most <c>prefetchFactor</c> finished batches waiting (default 2), and the batches
/// are handed out in order k = 0, 1, …, so they are the same batches, in the same order, as with no worker. An
/// exception thrown by the data set or the collate function in a worker is rethrown, with its type, message and
/// the worker's stack, on the thread that enumerates, at the batch where it happened. Disposing the enumerator (a
/// <c>break</c> out of <c>foreach</c>) cancels the workers and waits for them. Batches are fresh tensors: they may
/// be kept. One enumeration at a time per loader.</para>
/// </remarks>
public sealed class DataLoader<TSample, TBatch> : IDataLoader, IEnumerable<TBatch>
{
    private readonly Dataset<TSample> _dataset;
    private readonly Func<IReadOnlyList<TSample>, TBatch> _collate;

    /// <param name="dataset">The samples.</param>
    /// <param name="batchSize">Samples per batch.</param>
    /// <param name="collate">Merges the samples of one batch (PyTorch's <c>collate_fn</c>); <c>Collate.Default</c> stacks them.</param>
    /// <param name="shuffle">Visit the samples in a new seeded permutation each epoch.</param>
    /// <param name="dropLast">Drop the last batch when it is partial.</param>
    /// <param name="seed">Epoch e is shuffled with SplitMix64 state seed + e.</param>
    /// <param name="sampler">The order of the indices; mutually exclusive with <paramref name="shuffle"/>.</param>
    /// <param name="numWorkers">Threads that build batches ahead of the consumer; 0 builds them on the enumerating thread.</param>
    /// <param name="prefetchFactor">Finished batches each worker may keep waiting (default 2); only with workers, as in PyTorch.</param>
    public DataLoader(
        Dataset<TSample> dataset, int batchSize, Func<IReadOnlyList<TSample>, TBatch> collate, bool shuffle = false, bool dropLast = false,
        ulong seed = 0, Sampler? sampler = null, int numWorkers = 0, int? prefetchFactor = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(collate);
        LoaderOrder.Check(batchSize, shuffle, sampler);
        if (numWorkers < 0)
        {
            throw new ArgumentException($"DataLoader: numWorkers must be non-negative, got {numWorkers}.", nameof(numWorkers));
        }

        if (prefetchFactor is { } factor && (numWorkers == 0 || factor < 1))
        {
            throw new ArgumentException(
                $"DataLoader: prefetchFactor {factor} needs numWorkers > 0 and a positive factor (numWorkers {numWorkers}).", nameof(prefetchFactor));
        }

        _dataset = dataset;
        _collate = collate;
        BatchSize = batchSize;
        Shuffle = shuffle;
        DropLast = dropLast;
        Seed = seed;
        Sampler = sampler;
        NumWorkers = numWorkers;
        PrefetchFactor = numWorkers == 0 ? 0 : prefetchFactor ?? 2;
    }

    public Dataset<TSample> Dataset => _dataset;

    public int BatchSize { get; }

    public bool Shuffle { get; }

    public bool DropLast { get; }

    /// <summary>Epoch e is shuffled with SplitMix64 state <c>Seed + e</c>.</summary>
    public ulong Seed { get; }

    public Sampler? Sampler { get; }

    public int NumWorkers { get; }

    /// <summary>Finished batches each worker may hold (0 without workers).</summary>
    public int PrefetchFactor { get; }

    /// <summary>The epoch the next enumeration will be (incremented by each enumeration; set it to replay or resume).</summary>
    public int Epoch { get; set; }

    /// <summary>Batches per epoch: ⌈N / B⌉, or ⌊N / B⌋ with dropLast, N the data set's length or the sampler's count.</summary>
    public int Count => LoaderOrder.Batches(Sampler?.Count ?? _dataset.Count, BatchSize, DropLast);

    public IEnumerator<TBatch> GetEnumerator()
    {
        var epoch = Epoch++;
        var order = LoaderOrder.Of(_dataset.Count, Shuffle, Seed, Sampler, epoch);
        _dataset.SetEpoch(epoch);
        var n = order?.Length ?? _dataset.Count;
        var batches = LoaderOrder.Batches(n, BatchSize, DropLast);
        TBatch Fetch(int k)
        {
            var start = k * BatchSize;
            var samples = new TSample[Math.Min(BatchSize, n - start)];
            for (var i = 0; i < samples.Length; i++)
            {
                samples[i] = _dataset[order is null ? start + i : order[start + i]];
            }

            return _collate(samples);
        }

        return NumWorkers == 0 ? InOrder(batches, Fetch) : Prefetched(batches, Fetch, NumWorkers, PrefetchFactor);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private static IEnumerator<TBatch> InOrder(int batches, Func<int, TBatch> fetch)
    {
        for (var k = 0; k < batches; k++)
        {
            yield return fetch(k);
        }
    }

    /// <summary>
    /// Worker w builds batches w, w + W, w + 2W, … into its own queue of capacity prefetchFactor; the consumer takes
    /// batch k from queue k mod W, so the order is the sequential one whatever the threads' timing (PyTorch's
    /// round-robin assignment of batch indices to workers).
    /// </summary>
    private static IEnumerator<TBatch> Prefetched(int batches, Func<int, TBatch> fetch, int workers, int prefetchFactor)
    {
        workers = Math.Max(1, Math.Min(workers, batches));
        var cancel = new CancellationTokenSource();
        var queues = new BlockingCollection<(TBatch Batch, ExceptionDispatchInfo? Error)>[workers];
        var threads = new Thread[workers];
        for (var w = 0; w < workers; w++)
        {
            var queue = queues[w] = new BlockingCollection<(TBatch, ExceptionDispatchInfo?)>(prefetchFactor);
            var first = w;
            threads[w] = new Thread(() => Work(first, workers, batches, fetch, queue, cancel.Token))
            {
                IsBackground = true,
                Name = $"DataLoader worker {w}",
            };
            threads[w].Start();
        }

        try
        {
            for (var k = 0; k < batches; k++)
            {
                var (batch, error) = queues[k % workers].Take();
                error?.Throw();
                yield return batch;
            }
        }
        finally
        {
            cancel.Cancel();
            foreach (var thread in threads)
            {
                thread.Join();
            }

            foreach (var queue in queues)
            {
                queue.Dispose();
            }

            cancel.Dispose();
        }
    }

    private static void Work(
        int first, int workers, int batches, Func<int, TBatch> fetch, BlockingCollection<(TBatch, ExceptionDispatchInfo?)> queue, CancellationToken cancel)
    {
        try
        {
            for (var k = first; k < batches && !cancel.IsCancellationRequested; k += workers)
            {
                (TBatch, ExceptionDispatchInfo?) item;
                try
                {
                    item = (fetch(k), null);
                }
                catch (Exception e)
                {
                    // Handed to the consumer at batch k, which rethrows it; this worker stops, as PyTorch's does.
                    queue.Add((default!, ExceptionDispatchInfo.Capture(e)), cancel);
                    return;
                }

                queue.Add(item, cancel);
            }
        }
        catch (OperationCanceledException)
        {
            // The enumeration was disposed while this worker waited for room in its queue.
        }
    }
}

/// <summary>Loaders whose batch type is inferred from the collate function: <c>DataLoader.Create(dataset, 64, Collate.Default, shuffle: true)</c>.</summary>
public static class DataLoader
{
    /// <summary>A <see cref="DataLoader{TSample, TBatch}"/>; see its constructor for the arguments.</summary>
    public static DataLoader<TSample, TBatch> Create<TSample, TBatch>(
        Dataset<TSample> dataset, int batchSize, Func<IReadOnlyList<TSample>, TBatch> collate, bool shuffle = false, bool dropLast = false,
        ulong seed = 0, Sampler? sampler = null, int numWorkers = 0, int? prefetchFactor = null)
        => new(dataset, batchSize, collate, shuffle, dropLast, seed, sampler, numWorkers, prefetchFactor);
}
