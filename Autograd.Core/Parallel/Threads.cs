namespace Autograd.Kernels;

/// <summary>
/// The intra-op thread limit every parallel kernel obeys (GEMM, Conv2d, MaxPool2d, elementwise ops
/// and reductions): <c>AUTOGRAD_NUM_THREADS</c> when set, else the processor count, changed at run time
/// by <see cref="Tensor.SetNumThreads"/> (PyTorch's <c>set_num_threads</c>).
/// </summary>
internal static class Threads
{
    private static int s_max = ReadEnvironment();

    /// <summary>Most workers one op may use (1: everything runs on the calling thread).</summary>
    public static int Max => Volatile.Read(ref s_max);

    public static void Set(int threads)
    {
        if (threads < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(threads), threads, "SetNumThreads: the thread count must be at least 1.");
        }

        Volatile.Write(ref s_max, threads);
    }

    /// <summary>
    /// Runs <paramref name="body"/> for every index in [0, count), spread over at most
    /// <paramref name="workers"/> threads (the caller is one of them); in order on the calling thread when
    /// <paramref name="workers"/> ≤ 1 or there is one index.
    /// </summary>
    public static void For(int count, int workers, Action<int> body)
    {
        if (workers <= 1 || count <= 1)
        {
            for (var i = 0; i < count; i++)
            {
                body(i);
            }

            return;
        }

        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Math.Min(workers, count) }, body);
    }

    /// <summary>
    /// Splits [0, length) into <paramref name="chunks"/> contiguous ranges and runs <paramref name="body"/>(start, end)
    /// on each, the caller taking one; used by elementwise kernels above their size threshold.
    /// </summary>
    public static void ForRanges(int length, int chunks, Action<int, int> body)
    {
        if (chunks <= 1)
        {
            body(0, length);
            return;
        }

        Parallel.For(
            0,
            chunks,
            new ParallelOptions { MaxDegreeOfParallelism = chunks },
            c => body((int)((long)length * c / chunks), (int)((long)length * (c + 1) / chunks)));
    }

    /// <summary>
    /// Runs <paramref name="body"/>(index, local) for every index in [0, count) on the calling thread and up
    /// to <paramref name="workers"/> − 1 pool threads, each participant with its own local from
    /// <paramref name="init"/> (made when it claims its first index, handed to <paramref name="finish"/> after
    /// its last). Indices are claimed one at a time, not assigned: a pool thread that wakes late finds the
    /// caller has taken the work, so the caller never waits for an index nobody has started, only for those
    /// in progress (waking a pool thread costs tens to hundreds of µs on a VM). The first exception is
    /// rethrown on the calling thread once every claimed index is done.
    /// </summary>
    public static void Claim<TLocal>(int count, int workers, Func<TLocal> init, Action<int, TLocal> body, Action<TLocal> finish)
    {
        var job = new ClaimJob<TLocal>(count, init, body, finish);
        for (var w = 1; w < Math.Min(workers, count); w++)
        {
            ThreadPool.UnsafeQueueUserWorkItem(job, preferLocal: false);
        }

        job.Execute();
        job.Wait();
    }

    private sealed class ClaimJob<TLocal>(int count, Func<TLocal> init, Action<int, TLocal> body, Action<TLocal> finish) : IThreadPoolWorkItem
    {
        private readonly int _count = count;
        private int _next;
        private int _unfinished = count;
        private Exception? _error;

        public void Execute()
        {
            var index = Interlocked.Increment(ref _next) - 1;
            if (index >= _count)
            {
                return;
            }

            TLocal local;
            try
            {
                local = init();
            }
            catch (Exception e)
            {
                // This participant stops; the index it claimed counts as done, the others go on.
                Interlocked.CompareExchange(ref _error, e, null);
                Interlocked.Decrement(ref _unfinished);
                return;
            }

            try
            {
                do
                {
                    try
                    {
                        if (Volatile.Read(ref _error) is null)
                        {
                            body(index, local);
                        }
                    }
                    catch (Exception e)
                    {
                        Interlocked.CompareExchange(ref _error, e, null);
                    }
                    finally
                    {
                        Interlocked.Decrement(ref _unfinished);
                    }
                }
                while ((index = Interlocked.Increment(ref _next) - 1) < _count);
            }
            finally
            {
                finish(local);
            }
        }

        public void Wait()
        {
            var spinner = default(SpinWait);
            while (Volatile.Read(ref _unfinished) != 0)
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }

            if (_error is { } error)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
            }
        }
    }

    private static int ReadEnvironment()
    {
        var text = Environment.GetEnvironmentVariable("AUTOGRAD_NUM_THREADS");
        return int.TryParse(text, out var threads) && threads > 0 ? threads : Environment.ProcessorCount;
    }
}
