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

    private static int ReadEnvironment()
    {
        var text = Environment.GetEnvironmentVariable("AUTOGRAD_NUM_THREADS");
        return int.TryParse(text, out var threads) && threads > 0 ? threads : Environment.ProcessorCount;
    }
}
