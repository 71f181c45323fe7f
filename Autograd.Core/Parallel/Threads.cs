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
    /// <paramref name="workers"/> ≤ 1 or there is one index. Indices are claimed as in <see cref="Claim"/>.
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

        // Indices are claimed in blocks of consecutive ones, a few blocks per worker: claiming one index at a
        // time costs two contended atomics per index (~0.1-0.2 µs as the line moves between cores), more than a
        // small body (a max-pool plane of a few hundred taps) takes.
        var blocks = (int)Math.Min(count, (long)workers * BlocksPerWorker);
        Claim(blocks, workers, () => (body, count, blocks), static (block, run) =>
        {
            var end = (int)((long)run.count * (block + 1) / run.blocks);
            for (var i = (int)((long)run.count * block / run.blocks); i < end; i++)
            {
                run.body(i);
            }
        }, static _ => { });
    }

    /// <summary>Blocks of indices per worker in <see cref="For"/>: enough for a late worker's share to be taken by the others.</summary>
    private const int BlocksPerWorker = 8;

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

        For(chunks, chunks, c => body((int)((long)length * c / chunks), (int)((long)length * (c + 1) / chunks)));
    }

    /// <summary>
    /// Runs <paramref name="body"/>(index, local) for every index in [0, count) on the calling thread and up
    /// to <paramref name="workers"/> − 1 pool threads, each participant with its own local from
    /// <paramref name="init"/> (made when it claims its first index, handed to <paramref name="finish"/> after
    /// its last). Indices are claimed one at a time, not assigned: a pool thread that wakes late finds the
    /// caller has taken the work, so the caller never waits for an index nobody has started, only for those
    /// in progress. The first exception is rethrown on the calling thread once every claimed index is done.
    /// </summary>
    /// <remarks>
    /// The helpers are the library's own workers (<see cref="Pool"/>), which spin for a while after a job
    /// before parking, as OpenMP's threads do: waking a parked thread costs tens to hundreds of µs on a VM,
    /// more than many of the ops it would help. A job offered while another holds the workers (two callers
    /// at once, or a Claim inside a Claim) goes to the runtime's thread pool instead.
    /// </remarks>
    public static void Claim<TLocal>(int count, int workers, Func<TLocal> init, Action<int, TLocal> body, Action<TLocal> finish)
    {
        var helpers = Math.Min(workers, count) - 1;
        var job = new ClaimJob<TLocal>(count, helpers, init, body, finish);
        var offered = helpers > 0 && Pool.Offer(job, helpers);
        if (helpers > 0 && !offered)
        {
            for (var w = 0; w < helpers; w++)
            {
                ThreadPool.UnsafeQueueUserWorkItem(job, preferLocal: false);
            }
        }

        try
        {
            job.Run();
            job.Wait();
        }
        finally
        {
            if (offered)
            {
                Pool.Withdraw(job);
            }
        }
    }

    /// <summary>A job the pool's workers can join: <see cref="IThreadPoolWorkItem.Execute"/> is one helper's share.</summary>
    internal abstract class Job : IThreadPoolWorkItem
    {
        /// <summary>Set when offered to <see cref="Pool"/>: a worker remembers the last job by number, not by reference, so it keeps nothing the job captured alive.</summary>
        public long Number;

        public abstract void Execute();
    }

    private sealed class ClaimJob<TLocal>(int count, int helpers, Func<TLocal> init, Action<int, TLocal> body, Action<TLocal> finish) : Job
    {
        private readonly int _count = count;
        private int _next;
        private int _unfinished = count;
        private int _helperSlots = helpers;
        private Exception? _error;

        /// <summary>A helper joins if the job still wants one (at most workers − 1 ever join), then claims indices.</summary>
        public override void Execute()
        {
            if (Interlocked.Decrement(ref _helperSlots) >= 0)
            {
                Run();
            }
        }

        /// <summary>Claims indices until none is left; the caller runs this directly.</summary>
        public void Run()
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

    /// <summary>
    /// The library's worker threads: one job slot, and workers that watch it. After helping with a job a
    /// worker spins for <see cref="SpinMicroseconds"/> watching the slot (a job offered in that window starts
    /// within a fraction of a µs), then parks on a semaphore (the next job wakes it, which costs the
    /// operating system's wake-up). OpenMP does the same (OMP_WAIT_POLICY, GOMP_SPINCOUNT; PyTorch's
    /// threads spin about 200 µs). Workers are background threads, made on first need.
    /// </summary>
    internal static class Pool
    {
        private static readonly SemaphoreSlim s_wake = new(0);
        private static readonly Lock s_grow = new();
        private static Job? s_job;
        private static long s_offered;
        private static int s_workers;
        private static int s_parked;
        private static long s_spinTicks = MicrosecondsToTicks(ReadSpinEnvironment());

        // More workers than cores only queue behind each other; the caller takes what no worker joins.
        private static readonly int s_mostWorkers = Math.Max(1, Environment.ProcessorCount - 1);

        /// <summary>
        /// How long an idle worker watches for the next job before it parks (<c>AUTOGRAD_SPIN_US</c>, default 200;
        /// 0 parks at once, leaving the cores to other processes between ops at the price of a wake-up per job).
        /// </summary>
        public static int SpinMicroseconds
        {
            get => (int)(Volatile.Read(ref s_spinTicks) * 1_000_000 / System.Diagnostics.Stopwatch.Frequency);
            set
            {
                ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(SpinMicroseconds));
                Volatile.Write(ref s_spinTicks, MicrosecondsToTicks(value));
            }
        }

        /// <summary>The spin budget in <see cref="System.Diagnostics.Stopwatch"/> ticks.</summary>
        public static long SpinTicks => Volatile.Read(ref s_spinTicks);

        /// <summary>Workers made so far.</summary>
        public static int Workers => Volatile.Read(ref s_workers);

        /// <summary>
        /// Whether a worker is awake (spinning within its budget after a job, or helping with one) rather than parked:
        /// a job offered now then starts on it within a µs or so instead of after the operating system's wake-up
        /// (10-50 µs on these VMs). A hint: the worker may park an instant later.
        /// </summary>
        public static bool HasAwakeWorker => Volatile.Read(ref s_workers) > Volatile.Read(ref s_parked);

        /// <summary>Whether no job holds the slot: a job offered now goes to the pool's workers, not to the runtime's thread pool. A hint.</summary>
        public static bool SlotFree => Volatile.Read(ref s_job) is null;

        /// <summary>Puts <paramref name="job"/> in the slot and wakes up to <paramref name="helpers"/> parked workers; false when the slot is taken.</summary>
        public static bool Offer(Job job, int helpers)
        {
            job.Number = Interlocked.Increment(ref s_offered);
            if (Interlocked.CompareExchange(ref s_job, job, null) is not null)
            {
                return false;
            }

            if (Volatile.Read(ref s_workers) < Math.Min(helpers, s_mostWorkers))
            {
                try
                {
                    Grow(helpers);
                }
                catch
                {
                    // No thread could be made: free the slot, or every later job would find it taken.
                    Withdraw(job);
                    throw;
                }
            }

            // Dekker with the worker's park (increment s_parked, then read s_job; both full fences): either the
            // worker sees the job, or we see it parked and release it. A surplus release only wakes a worker early.
            var parked = Volatile.Read(ref s_parked);
            if (parked > 0)
            {
                s_wake.Release(Math.Min(parked, helpers));
            }

            return true;
        }

        public static void Withdraw(Job job) => Interlocked.CompareExchange(ref s_job, null, job);

        private static void Grow(int helpers)
        {
            lock (s_grow)
            {
                var target = Math.Min(helpers, s_mostWorkers);
                while (s_workers < target)
                {
                    var worker = new Thread(Work) { IsBackground = true, Name = $"Autograd worker {s_workers + 1}" };
                    worker.UnsafeStart();
                    Volatile.Write(ref s_workers, s_workers + 1);
                }
            }
        }

        private static void Work()
        {
            var last = 0L;
            while (true)
            {
                last = HelpWithNext(last);
            }
        }

        /// <summary>Helps with the next job and returns its number (in its own frame, so no reference outlives the job).</summary>
        private static long HelpWithNext(long last)
        {
            var job = Next(last);
            job.Execute();
            return job.Number;
        }

        /// <summary>The next job in the slot that is not number <paramref name="last"/>: spin first, then park.</summary>
        private static Job Next(long last)
        {
            while (true)
            {
                var start = System.Diagnostics.Stopwatch.GetTimestamp();
                var budget = Volatile.Read(ref s_spinTicks);
                do
                {
                    var job = Volatile.Read(ref s_job);
                    if (job is not null && job.Number != last)
                    {
                        return job;
                    }

                    Thread.SpinWait(8);
                }
                while (System.Diagnostics.Stopwatch.GetTimestamp() - start < budget);

                Interlocked.Increment(ref s_parked);
                var offered = Volatile.Read(ref s_job);
                if (offered is null || offered.Number == last)
                {
                    s_wake.Wait();
                }

                Interlocked.Decrement(ref s_parked);
            }
        }

        private static long MicrosecondsToTicks(int microseconds) => microseconds * System.Diagnostics.Stopwatch.Frequency / 1_000_000;

        private static int ReadSpinEnvironment()
        {
            var text = Environment.GetEnvironmentVariable("AUTOGRAD_SPIN_US");
            return int.TryParse(text, out var us) && us >= 0 ? us : 200;
        }
    }

    private static int ReadEnvironment()
    {
        var text = Environment.GetEnvironmentVariable("AUTOGRAD_NUM_THREADS");
        return int.TryParse(text, out var threads) && threads > 0 ? threads : Environment.ProcessorCount;
    }
}
