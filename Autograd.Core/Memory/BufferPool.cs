using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Autograd.Kernels;

/// <summary>
/// Accounting and policy shared by the per-type pools: how many pooled bytes are out (held by storages,
/// live or dead but not yet reclaimed), and when to ask the GC to find the unreachable ones.
/// </summary>
/// <remarks>
/// A storage's buffer comes back once a collection has found the storage unreachable: the pool keeps a weak
/// GC handle to every storage that holds one of its buffers and, after a collection, sweeps them on the calling
/// thread (<see cref="Reclaim"/>; a finalizer per buffer cost a finalizable allocation, a promotion of every dead
/// lease and a wait for the finalizer thread: the GPT step's collection took 0.46-0.51 ms at one thread, 0.33-0.34 now). The
/// collection is induced, not waited for: when a miss would take the outstanding bytes over the
/// budget (or a backward pass ends above half of it, a quiet point where little is alive), a gen-1
/// collection runs and the registry is swept. Gen-1, not gen-0, so that tensors promoted by an
/// earlier collection are found too; what survives such a collection is long-lived (parameters, data,
/// optimiser state), and the budget is then the surviving bytes plus a headroom of the larger of
/// <see cref="MinBudget"/> and the survivors (a step's temporaries grow with what it keeps: relu over
/// 16M elements turns over 128 MB with 128 MB alive; a fixed 64 MiB made every such step miss, 466 ms
/// instead of 6). A backward pass that ends with more than half of MinBudget out beyond the survivors
/// of the last quiet collection collects; the old threshold, the survivors themselves, made a 1-thread
/// LeNet step with ~40 MB alive collect every step.
/// <para>
/// Every induced collection promotes what it finds alive, and a tensor alive at two of them is in gen 2,
/// where only a gen-2 collection finds it dead. Issue 16: after the workload runner's large attention
/// rows, the end-of-backward threshold was the survivors of a collection at a miss (the step's live
/// activations included), so a GPT step never collected at its quiet point again; every collection ran
/// in the middle of a step and went on to gen 2, the gen-1 + gen-2 pair promoted the live activations
/// twice, and the next step had to go to gen 2 again: one gen-2 collection per step, self-sustaining.
/// So: the end of backward compares with the survivors of the last quiet collection (lowered by any
/// collection that finds fewer); a miss climbs from gen 0 and goes further only while the pool stays
/// over its budget; and a quiet collection sizes the headroom to cover the last step's temporaries
/// (the peak outstanding above the survivors), so that a steady training loop does not miss mid-step.
/// See docs/performance.md, "Memory model".
/// </para>
/// </remarks>
internal static class BufferPool
{
    /// <summary>Smaller buffers are plain arrays: the GC's gen-0 handles them better than a tracked handle would.</summary>
    public const int MinPooledBytes = 4096;

    /// <summary>Larger buffers are plain arrays (one-off giants, e.g. a whole data set).</summary>
    public const long MaxPooledBytes = 1L << 30;

    /// <summary>Outstanding bytes below which no collection is ever induced (64 MiB; tests lower it to reach a steady state sooner).</summary>
    internal static long MinBudget { get; set; } = 64L << 20;

    private static long s_outstanding;
    private static long s_budget = 64L << 20;
    private static long s_survivors;
    private static long s_quietSurvivors;
    private static long s_peak;
    private static long s_collections;
    private static long s_freshBytes;
    private static int s_collecting;

    /// <summary>Bytes of pooled buffers currently held by storages (live, or dead and not yet reclaimed).</summary>
    public static long OutstandingBytes => Interlocked.Read(ref s_outstanding);

    /// <summary>Collections the pool has induced.</summary>
    public static long InducedCollections => Interlocked.Read(ref s_collections);

    /// <summary>Time spent in the collections the pool induced and their sweeps (<see cref="Stopwatch"/> ticks).</summary>
    public static long CollectionTicks => Interlocked.Read(ref s_collectionTicks);

    private static long s_collectionTicks;

    /// <summary>Bytes of fresh arrays the pool has allocated (misses it could not serve from returned buffers).</summary>
    public static long FreshBytes => Interlocked.Read(ref s_freshBytes);

    /// <summary>Test hook: induce a collection on every miss (shakes out any buffer reused while still readable).</summary>
    internal static bool StressCollect { get; set; }

    /// <summary>
    /// Debug/test hook: every returned buffer is filled with all-ones bytes (NaN as float or double) before it
    /// goes back on the free list, so a kernel still reading a span of a storage that was found dead
    /// reads NaN instead of plausible stale values (docs/architecture.md, "The memory boundary"). On with
    /// AUTOGRAD_POOL_POISON=1, or set by a test.
    /// </summary>
    internal static bool Poison { get; set; } = Environment.GetEnvironmentVariable("AUTOGRAD_POOL_POISON") == "1";

    /// <summary>
    /// Test hook: when set to N &gt; 0, the N-th row that a strided kernel (<see cref="RowCursor"/>) starts
    /// from now, on any thread, first runs a full collection and reclaims what it found, while the kernel
    /// holds spans of its operands. An op that lets an operand die before its kernel is done then has the
    /// operand's buffer returned (and, with <see cref="Poison"/>, overwritten) under it, where otherwise it
    /// would take a lucky race. One static read per row when off (0).
    /// </summary>
    internal static int CollectAfterRows;

    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static void KernelCheckpoint()
    {
        if (Interlocked.Decrement(ref CollectAfterRows) == 0)
        {
            GC.Collect();
            Reclaim();
        }
    }

    // The storages that hold pooled buffers: a weak handle to each (cleared by the GC once the storage is
    // unreachable) and its buffer. Guarded by itself.
    private static readonly List<(GCHandle Owner, PooledBuffer Buffer)> s_tracked = [];
    private static int s_reclaimedAt = -1;

    /// <summary>Registers a storage that holds a pooled buffer: the buffer goes back once the storage is found unreachable.</summary>
    internal static void Track(object storage, PooledBuffer buffer)
    {
        var handle = GCHandle.Alloc(storage, GCHandleType.Weak);
        lock (s_tracked)
        {
            s_tracked.Add((handle, buffer));
        }
    }

    /// <summary>
    /// Takes back the buffers of the storages the last collection found unreachable, and forgets those already
    /// returned: one pass over the registry on the calling thread (no finalizer thread to wait for).
    /// </summary>
    internal static void Reclaim()
    {
        lock (s_tracked)
        {
            s_reclaimedAt = GC.CollectionCount(0);
            for (var i = s_tracked.Count - 1; i >= 0; i--)
            {
                var (owner, buffer) = s_tracked[i];
                if (!buffer.Returned && owner.Target is not null)
                {
                    continue;
                }

                buffer.ReturnNow();
                owner.Free();
                s_tracked[i] = s_tracked[^1];
                s_tracked.RemoveAt(s_tracked.Count - 1);
            }
        }
    }

    /// <summary>Reclaims after a collection the pool did not induce (the GC's own), if one ran since the last pass; whether it did.</summary>
    internal static bool ReclaimIfCollected()
    {
        if (GC.CollectionCount(0) == Volatile.Read(ref s_reclaimedAt))
        {
            return false;
        }

        Reclaim();
        return true;
    }

    internal static void AddOutstanding(long bytes)
    {
        var now = Interlocked.Add(ref s_outstanding, bytes);
        if (bytes > 0 && now > Volatile.Read(ref s_peak))
        {
            // The highest outstanding since the last quiet collection (a step's temporaries on top of what lives).
            long seen;
            while (now > (seen = Volatile.Read(ref s_peak)) && Interlocked.CompareExchange(ref s_peak, now, seen) != seen)
            {
            }
        }
    }

    internal static void AddFresh(long bytes) => Interlocked.Add(ref s_freshBytes, bytes);

    /// <summary>True when a miss of <paramref name="bytes"/> should first try to reclaim unreachable buffers.</summary>
    internal static bool ShouldCollectBeforeMiss(long bytes) => StressCollect || OutstandingBytes + bytes > Interlocked.Read(ref s_budget);

    /// <summary>
    /// Called at the end of a backward pass: reclaim at this quiet point once the step's garbage passes
    /// half of <see cref="MinBudget"/> above the survivors, so that the steps that follow find returned
    /// (recently used, still cached) buffers instead of growing the pool with fresh pages.
    /// </summary>
    public static void AfterBackward()
    {
        ReclaimIfCollected();
        if (OutstandingBytes > Interlocked.Read(ref s_quietSurvivors) + (MinBudget / 2))
        {
            Collect(quiet: true, bytes: 0);
        }
    }

    /// <summary>Reclaims everything unreachable now; called at a quiet point (tests, the end of backward).</summary>
    public static void Collect() => Collect(quiet: true, bytes: 0);

    /// <summary>Called by a miss of <paramref name="bytes"/> over the budget, in the middle of whatever is running.</summary>
    internal static void CollectBeforeMiss(long bytes) => Collect(quiet: false, bytes);

    /// <summary>
    /// Finds unreachable storages (gen-1 collection) and takes their buffers
    /// back, then sets the budget to what is still out plus the larger of <see cref="MinBudget"/> and that.
    /// One thread at a time; others just go on. <paramref name="quiet"/>: little but long-lived tensors is
    /// alive (what is still out beyond the last quiet survivors after gen 1 is dead in gen 2); otherwise a
    /// miss of <paramref name="bytes"/> in the middle of a step, whose live temporaries are out too.
    /// </summary>
    private static void Collect(bool quiet, long bytes)
    {
        if (Interlocked.Exchange(ref s_collecting, 1) != 0)
        {
            return;
        }

        var started = Stopwatch.GetTimestamp();

        try
        {
            // At a miss the step's live temporaries are out too, and every induced collection promotes what
            // it finds alive: a gen-1 collection there would send the previous step's gradients (alive until
            // the next ZeroGrad) to gen 2, where they die and stay out. So a miss climbs: gen 0 (this step's
            // garbage since the last collection), then gen 1, then gen 2, each only while the pool is still
            // over its budget. A quiet point starts at gen 1 (what a miss promoted to gen 1 is dead there).
            var budget = Interlocked.Read(ref s_budget);
            if (quiet || Gather(0) + bytes > budget)
            {
                // Storages that were alive at two induced collections were promoted to gen 2, and a gen-1
                // collection never finds them once they die: their buffers stay out, and the pool would
                // replace them with fresh pages (~2.5 ms per MB to touch). Look in gen 2 as well when a quiet
                // gen-1 collection leaves more than half the headroom out beyond the last quiet survivors, or
                // one at a miss leaves the pool over its budget: a full collection of this engine's small
                // managed heap (the buffers are pinned arrays of numbers, with nothing to trace) costs far less.
                var left = Gather(1);
                if (quiet ? left > Interlocked.Read(ref s_quietSurvivors) + (MinBudget / 2) : left + bytes > budget)
                {
                    Gather(2);
                }
            }

            Interlocked.Increment(ref s_collections);
            var survivors = OutstandingBytes;
            Interlocked.Exchange(ref s_survivors, survivors);
            Interlocked.Exchange(ref s_quietSurvivors, quiet ? survivors : Math.Min(survivors, Interlocked.Read(ref s_quietSurvivors)));
            // After a quiet collection the headroom also covers the temporaries of the last step (the highest
            // outstanding since the previous quiet collection, above what lives now), with a quarter to spare:
            // a step that needs more than MinBudget (the GPT step turns over ~80 MB) then never misses over
            // budget in its middle, where a collection would promote its live tensors (see above).
            var headroom = Math.Max(MinBudget, survivors);
            if (quiet)
            {
                headroom = Math.Max(headroom, (Interlocked.Exchange(ref s_peak, survivors) - survivors) * 5 / 4);
            }

            Interlocked.Exchange(ref s_budget, survivors + headroom);
        }
        finally
        {
            Interlocked.Add(ref s_collectionTicks, Stopwatch.GetTimestamp() - started);
            Volatile.Write(ref s_collecting, 0);
        }
    }

    /// <summary>An induced blocking collection of <paramref name="generation"/> and the buffers it freed taken back; the bytes still out after it.</summary>
    private static long Gather(int generation)
    {
        GC.Collect(generation, GCCollectionMode.Forced, blocking: true);
        Reclaim();
        return OutstandingBytes;
    }
}

/// <summary>
/// Size-class pool of arrays for one element type. Classes are quarter steps between powers of two
/// (4·2ᵉ, 5·2ᵉ, 6·2ᵉ, 7·2ᵉ elements), so a buffer wastes at most a fifth of its length. Arrays are
/// allocated on the pinned object heap: they live as long as the process, are never moved or
/// compacted, and stay in memory the process already touched.
/// </summary>
internal static class BufferPool<T>
    where T : unmanaged
{
    private static readonly int s_minLength = BufferPool.MinPooledBytes / Unsafe.SizeOf<T>();
    private static readonly long s_maxLength = BufferPool.MaxPooledBytes / Unsafe.SizeOf<T>();
    private static readonly Stack<T[]>[] s_free = [.. Enumerable.Range(0, 32 * 4).Select(_ => new Stack<T[]>())];

    /// <summary>An array of at least <paramref name="length"/> elements, not cleared; pooled says whether it must go back.</summary>
    public static T[] Rent(int length, out bool pooled)
    {
        if (length < s_minLength || length > s_maxLength)
        {
            pooled = false;
            return length == 0 ? [] : GC.AllocateUninitializedArray<T>(length);
        }

        pooled = true;
        var (cls, capacity) = Class(length);
        var bytes = (long)capacity * Unsafe.SizeOf<T>();

        // On a miss, a collection the GC ran by itself may have found dead storages: their buffers first.
        if (TryPop(cls, out var array) || (BufferPool.ReclaimIfCollected() && TryPop(cls, out array)))
        {
            BufferPool.AddOutstanding(bytes);
            return array;
        }

        if (BufferPool.ShouldCollectBeforeMiss(bytes))
        {
            BufferPool.CollectBeforeMiss(bytes);
            if (TryPop(cls, out array))
            {
                BufferPool.AddOutstanding(bytes);
                return array;
            }
        }

        array = GC.AllocateUninitializedArray<T>(capacity, pinned: true);
        BufferPool.AddOutstanding(bytes);
        BufferPool.AddFresh(bytes);
        return array;
    }

    /// <summary>Takes back an array that <see cref="Rent"/> handed out as pooled.</summary>
    public static void Return(T[] array)
    {
        if (BufferPool.Poison)
        {
            MemoryMarshal.AsBytes(array.AsSpan()).Fill(0xFF);
        }

        var (cls, capacity) = Class(array.Length);
        var stack = s_free[cls];
        lock (stack)
        {
            stack.Push(array);
        }

        BufferPool.AddOutstanding(-(long)capacity * Unsafe.SizeOf<T>());
    }

    private static bool TryPop(int cls, out T[] array)
    {
        var stack = s_free[cls];
        lock (stack)
        {
            return stack.TryPop(out array!);
        }
    }

    /// <summary>Size class of a length: the smallest m·2ᵉ (m in 4..7) that holds it, and its index.</summary>
    internal static (int Class, int Capacity) Class(int length)
    {
        var e = BitOperations.Log2((uint)length) - 2;
        var m = (int)((length + (1L << e) - 1) >> e);
        if (m == 8)
        {
            m = 4;
            e++;
        }

        return (e * 4 + m - 4, m << e);
    }
}
