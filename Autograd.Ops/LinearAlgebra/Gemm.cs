using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Autograd.Kernels;

/// <summary>
/// General matrix multiply over strided operands: C = A·B or C += A·B, where
/// A[i, p] = a[aOffset + i·aRowStride + p·aColStride], B[p, j] = b[bOffset + p·bRowStride + j·bColStride]
/// and C[i, j] = c[cOffset + i·cRowStride + j] (C rows are contiguous). Any strides are accepted for A
/// and B, so transposed and sliced views multiply without a copy.
/// </summary>
/// <remarks>
/// BLIS-style: for each NC-wide column panel and KC-deep slice, B is packed into KC×NR micro-panels
/// (kept in L1 by the inner loop), then for each MC-high row block A is packed into MR×KC micro-panels
/// (kept in L2), and a register-blocked MR×NR micro-kernel accumulates in vector registers. Packing is
/// what makes arbitrary strides cheap: the micro-kernel only ever sees unit-stride rows. A row-major A, and a
/// row-major B against few rows of A (<see cref="ReadsBInPlace{T}"/>), are read in place instead.
/// Large products are split across cores by rows or columns of C, each worker packing its own panels so
/// that no synchronisation is needed beyond the final join. The loop nest, packing and micro-kernels are
/// compiled fully optimised on first call (AggressiveOptimization): under tiered compilation a process's
/// first thousand small products otherwise ran tier-0 code, ten times slower (matmul_fwd/n=128 measured
/// 0.21 ms instead of 0.022 ms when it ran first in the process, at any thread count).
/// </remarks>
[SkipLocalsInit]
internal static class Gemm
{
    // Below this many multiply-adds the packing and dispatch overhead outweighs the micro-kernel gain.
    private const long SmallProductThreshold = 256;

    // Below this many multiply-adds per worker (about 20 µs of one core's work), waking a pool thread
    // costs more than it saves: its wake-up and hand-off take 5–50 µs, and a worker that is preempted
    // after claiming its chunk holds the caller up by a scheduler slice. So a 128³ product (2²¹) stays
    // on the calling thread, where it takes ~20 µs; 2 threads are never slower than 1 on small products.
    private const long ParallelGrainPerThread = 1L << 22;

    // Maximum depth of a packed slice: KC·NR elements of B (32 KiB for both float and double micro-panels)
    // stay in the 48 KiB L1 while the MC/MR micro-kernels of a block stream past them.
    private const int Kc = 256;

    // Byte budgets: an MC×KC packed A block lives in the private L2 (1 MiB on Zen 5) and a KC×NC packed
    // B panel in L3. Element counts are derived per type below.
    private const int ABlockBytes = 256 * 1024;
    private const int BPanelBytes = 4 * 1024 * 1024;

    // Most bytes of a shared operand that the workers of a parallel product pack together up front, all of
    // its depth slices at once (beyond this each worker packs its own panels as it goes): 16 MiB, in the L3.
    private const long SharedPackBytes = 16L * 1024 * 1024;

    /// <summary>Test hook: overrides the worker count (0 = use AUTOGRAD_NUM_THREADS or the core count).</summary>
    internal static int ThreadsOverride { get; set; }

    /// <summary>Benchmark switch: a row-major A is packed like any other instead of read in place by the micro-kernel.</summary>
    internal static bool DirectADisabled { get; set; }

    /// <summary>Benchmark switch: a row-major B packed like any other even where <see cref="ReadsBInPlace{T}"/> would read it in place.</summary>
    internal static bool DirectBDisabled { get; set; }

    // A row-major B is read in place only by blocks of at most this many rows (a worker's share when a product is split
    // by rows): each of its panels then serves at most 16 row tiles of the 512-bit kernel (22 of the 256-bit one), too
    // few to pay for packing it (a convolution's filters against its columns: c2's [64, 288] · [288, 784] 5 % faster).
    // Against 768 rows the packed panels are faster (12 % on [768, 288] · [288, 784]).
    private const int DirectBRows = 128;

    /// <summary>Benchmark switch: a column-major A (a transposed view) is packed instead of read in place.</summary>
    internal static bool DirectColumnsDisabled { get; set; }

    /// <summary>Benchmark switch: an A whose lines are a multiple of <see cref="AliasBytes"/> apart is read in place like any other.</summary>
    internal static bool PackAliasedADisabled { get; set; }

    // Lines of A read in place a multiple of this many bytes apart share their L1 sets (64 sets of 64 B) and crowd a
    // few L2 sets: a block of A that many B panels sweep (n = 1024 or 2048 square products) then misses where its
    // packed copy does not. Below AliasedPackColumns columns the copy costs more than it saves (768 × 1024 A:
    // 16 % slower against 32 columns of B, 3.5 % against 128, level against 256 and 512).
    private const int AliasBytes = 4096;
    private const int AliasedPackColumns = 1024;

    // From this many multiply-adds (a 128³ product: ~40 µs on one core) up to the grain, a product is split over two
    // threads when a pool worker is awake (Threads.Pool.HasAwakeWorker), which then joins within a µs or so, or when it
    // follows another such product within the workers' spin budget: one wake-up (10-50 µs) then serves the stream.
    private const long AwakeSplitMultiplyAdds = 1L << 21;

    // When the calling thread last started a product of AwakeSplitMultiplyAdds or more below the grain (Stopwatch ticks).
    [ThreadStatic]
    private static long t_lastMidProduct;

    /// <summary>Benchmark switch: products below the parallel grain stay on the calling thread even when a worker is awake.</summary>
    internal static bool AwakeSplitDisabled { get; set; }

    /// <summary>
    /// Whether a product of <paramref name="multiplyAdds"/> below the parallel grain is split over two threads after all:
    /// from <see cref="AwakeSplitMultiplyAdds"/>, when the thread limit allows two, the pool's job slot is free, and either a
    /// pool worker is awake or the calling thread started such a product less than a spin budget ago (a stream of them keeps
    /// the worker awake).
    /// Each call at or above that size records its time as the thread's latest such product.
    /// </summary>
    internal static bool SplitsBelowTheGrain(long multiplyAdds)
    {
        if (AwakeSplitDisabled || t_oneThread || multiplyAdds < AwakeSplitMultiplyAdds || MaxThreads < 2)
        {
            return false;
        }

        var now = System.Diagnostics.Stopwatch.GetTimestamp();
        var last = t_lastMidProduct;
        t_lastMidProduct = now;
        // Not while another caller's job holds the workers: the split would go to the runtime's thread pool and pay its wake-up.
        return Threads.Pool.SlotFree && (Threads.Pool.HasAwakeWorker || (last != 0 && now - last < Threads.Pool.SpinTicks));
    }

    /// <summary>Benchmark switch: each worker of a parallel product packs the shared operand itself, as before it was packed once for all.</summary>
    internal static bool SharedPackingDisabled { get; set; }

    /// <summary>Upper bound on the worker count: <see cref="Tensor.NumThreads"/> (AUTOGRAD_NUM_THREADS or the core count) unless overridden.</summary>
    internal static int MaxThreads => ThreadsOverride > 0 ? ThreadsOverride : Threads.Max;

    /// <summary>
    /// How many workers a product of this many multiply-adds is split over (1: it runs on the calling
    /// thread). Callers that parallelise over many small products ask this to avoid nesting.
    /// </summary>
    internal static int Workers(long multiplyAdds) => t_oneThread ? 1 : (int)Math.Min(MaxThreads, multiplyAdds / ParallelGrainPerThread);

    [ThreadStatic]
    private static bool t_oneThread;

    /// <summary>
    /// While true on a thread, every product started on it runs on it alone: set by callers that already
    /// spread independent products over threads (Conv2d's images), so that those do not nest.
    /// </summary>
    internal static bool OneThread
    {
        get => t_oneThread;
        set => t_oneThread = value;
    }

    /// <summary>
    /// <see cref="Threads.Claim"/> over <paramref name="count"/> independent items (Conv2d's image chunks,
    /// attention's matrices), each body call with <see cref="OneThread"/> set, so the products inside an item
    /// stay on the worker that claimed it instead of nesting a second split.
    /// </summary>
    internal static void ClaimEachOnOneThread<TLocal>(int count, int threads, Func<TLocal> init, Action<int, TLocal> body, Action<TLocal> finish) =>
        Threads.Claim(
            count,
            threads,
            init,
            (item, local) =>
            {
                var nested = t_oneThread;
                t_oneThread = true;
                try
                {
                    body(item, local);
                }
                finally
                {
                    t_oneThread = nested;
                }
            },
            finish);

    /// <summary>The product over plain arrays (tests, benchmarks and scratch buffers).</summary>
    public static void Multiply<T>(
        int m, int n, int k,
        T[] a, int aOffset, int aRowStride, int aColStride,
        T[] b, int bOffset, int bRowStride, int bColStride,
        T[] c, int cOffset, int cRowStride,
        bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(c);
        Multiply(m, n, k, (ReadOnlyMemory<T>)a, aOffset, aRowStride, aColStride, b, bOffset, bRowStride, bColStride, (Memory<T>)c, cOffset, cRowStride, accumulate);
    }

    /// <summary>The product over memory that a storage lends: its owner must stay reachable until this returns.</summary>
    public static void Multiply<T>(
        int m, int n, int k,
        ReadOnlyMemory<T> a, int aOffset, int aRowStride, int aColStride,
        ReadOnlyMemory<T> b, int bOffset, int bRowStride, int bColStride,
        Memory<T> c, int cOffset, int cRowStride,
        bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        if (m == 0 || n == 0)
        {
            return;
        }

        // The kernels below index with unchecked refs, so the extreme elements are checked once here.
        CheckExtent(c.Length, cOffset, m, cRowStride, n, 1, nameof(c));
        if (k == 0)
        {
            if (!accumulate)
            {
                for (var i = 0; i < m; i++)
                {
                    c.Span.Slice(cOffset + i * cRowStride, n).Clear();
                }
            }

            return;
        }

        CheckExtent(a.Length, aOffset, m, aRowStride, k, aColStride, nameof(a));
        CheckExtent(b.Length, bOffset, k, bRowStride, n, bColStride, nameof(b));

        var operands = new Operands<T>(
            a, aOffset, aRowStride, aColStride,
            b, bOffset, bRowStride, bColStride,
            c, cOffset, cRowStride,
            accumulate);
        Dispatch(m, n, k, (long)m * n * k < SmallProductThreshold ? VectorWidth.None : Simd.Width<T>(), in operands);
    }

    /// <summary>
    /// C = A·B or C += A·B with A packed beforehand (<see cref="Pack{T}"/>): for many products that share
    /// their left operand (a convolution's filters, block after block and image after image), whose
    /// packing would otherwise be repeated for every one. Same results, bit for bit, as the unpacked call.
    /// </summary>
    public static void Multiply<T>(
        PackedA<T> a, int n,
        ReadOnlyMemory<T> b, int bOffset, int bRowStride, int bColStride,
        Memory<T> c, int cOffset, int cRowStride,
        bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(a);
        if (a.Kind == VectorWidth.None || (long)a.M * n * a.K < SmallProductThreshold)
        {
            Multiply(a.M, n, a.K, a.Source, a.SourceOffset, a.SourceRowStride, a.SourceColStride, b, bOffset, bRowStride, bColStride, c, cOffset, cRowStride, accumulate);
            return;
        }

        ArgumentOutOfRangeException.ThrowIfNegative(n);
        if (n == 0)
        {
            return;
        }

        CheckExtent(c.Length, cOffset, a.M, cRowStride, n, 1, nameof(c));
        CheckExtent(b.Length, bOffset, a.K, bRowStride, n, bColStride, nameof(b));
        var operands = new Operands<T>(
            a.Source, a.SourceOffset, a.SourceRowStride, a.SourceColStride,
            b, bOffset, bRowStride, bColStride,
            c, cOffset, cRowStride,
            accumulate,
            a);
        Dispatch(a.M, n, a.K, a.Kind, in operands);
    }

    /// <summary>
    /// Packs A [m, k] (A[i, p] = a[aOffset + i·aRowStride + p·aColStride]) into the micro-panels the kernel
    /// this machine runs reads, every depth slice at once, for <see cref="Multiply{T}(PackedA{T}, int, ReadOnlyMemory{T}, int, int, int, Memory{T}, int, int, bool)"/>.
    /// The panels come from the shared array pool; dispose the result to give them back. A must not change
    /// while the result is in use (it is read again for products too small for the blocked kernel).
    /// </summary>
    public static PackedA<T> Pack<T>(int m, int k, ReadOnlyMemory<T> a, int aOffset, int aRowStride, int aColStride)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(m);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        CheckExtent(a.Length, aOffset, m, aRowStride, k, aColStride, nameof(a));
        var kind = Simd.Width<T>();
        var mr = kind switch { VectorWidth.Vector512 => Kernel512<T>.Mr, VectorWidth.Vector256 => Kernel256<T>.Mr, _ => 1 };
        var packed = new PackedA<T>(m, k, kind, RoundUp(m, mr), a, aOffset, aRowStride, aColStride);
        if (kind == VectorWidth.None)
        {
            return packed;
        }

        var kcMax = SliceDepth(k);
        ref var origin = ref Unsafe.Add(ref MemoryMarshal.GetReference(a.Span), aOffset);
        ref var panels = ref MemoryMarshal.GetArrayDataReference(packed.Panels!);
        for (var pc = 0; pc < k; pc += kcMax)
        {
            // Slice pc holds the rows' panels one after another, as Block's own PackA lays out an A block.
            PackPanels(ref Unsafe.Add(ref origin, (nint)pc * aColStride), aRowStride, aColStride, m, mr, Math.Min(kcMax, k - pc), ref Unsafe.Add(ref panels, (nint)pc * packed.RoundedM));
        }

        return packed;
    }

    /// <summary>A left operand packed once into micro-panels (<see cref="Pack{T}"/>), slice after slice of depth.</summary>
    public sealed class PackedA<T> : IDisposable
        where T : unmanaged
    {
        internal PackedA(int m, int k, VectorWidth kind, int roundedM, ReadOnlyMemory<T> source, int offset, int rowStride, int colStride)
        {
            (M, K, Kind, RoundedM) = (m, k, kind, roundedM);
            (Source, SourceOffset, SourceRowStride, SourceColStride) = (source, offset, rowStride, colStride);
            Panels = kind == VectorWidth.None ? null : System.Buffers.ArrayPool<T>.Shared.Rent(roundedM * k);
        }

        public int M { get; }

        public int K { get; }

        /// <summary>The width of the micro-kernel the panels were packed for (none: not packed).</summary>
        internal VectorWidth Kind { get; }

        /// <summary>Rows rounded up to whole micro-panels: a slice of depth kc takes RoundedM·kc elements.</summary>
        internal int RoundedM { get; }

        internal T[]? Panels { get; private set; }

        internal ReadOnlyMemory<T> Source { get; }

        internal int SourceOffset { get; }

        internal int SourceRowStride { get; }

        internal int SourceColStride { get; }

        public void Dispose()
        {
            if (Panels is { } panels)
            {
                Panels = null;
                System.Buffers.ArrayPool<T>.Shared.Return(panels);
            }
        }
    }

    /// <summary>Runs the micro-kernel of the width <see cref="Simd.Width{T}"/> chose: the AVX-512 one, the 256-bit one, or none (the reference loop).</summary>
    private static void Dispatch<T>(int m, int n, int k, VectorWidth kind, in Operands<T> operands)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (kind)
        {
            case VectorWidth.Vector512:
                Blocked<T, Kernel512<T>>(m, n, k, in operands);
                break;
            case VectorWidth.Vector256:
                Blocked<T, Kernel256<T>>(m, n, k, in operands);
                break;
            default:
                Naive(m, n, k, in operands);
                break;
        }
    }

    /// <summary>
    /// Depth of the packed slices of a product of depth k: equal slices of at most Kc rather than Kc-sized
    /// ones plus a thin remainder (a slice of a few columns would cost a full pass over C and the packing
    /// set-up for almost no arithmetic).
    /// </summary>
    private static int SliceDepth(int k)
    {
        var slices = (k + Kc - 1) / Kc;
        return (k + slices - 1) / slices;
    }

    private static void CheckExtent(int length, int offset, int rows, int rowStride, int cols, int colStride, string name)
    {
        if (offset < 0 || rowStride < 0 || colStride < 0
            || offset + (long)(rows - 1) * rowStride + (long)(cols - 1) * colStride >= length)
        {
            throw new ArgumentOutOfRangeException(name, "The strided view reaches outside its array.");
        }
    }

    /// <summary>The call's arguments, passed by reference so helpers don't take a dozen parameters.</summary>
    private readonly struct Operands<T>(
        ReadOnlyMemory<T> a, int aOffset, int aRowStride, int aColStride,
        ReadOnlyMemory<T> b, int bOffset, int bRowStride, int bColStride,
        Memory<T> c, int cOffset, int cRowStride,
        bool accumulate,
        PackedA<T>? packedA = null)
        where T : unmanaged
    {
        public readonly ReadOnlyMemory<T> A = a;
        public readonly PackedA<T>? PackedA = packedA;
        public readonly int AOffset = aOffset;
        public readonly int ARowStride = aRowStride;
        public readonly int AColStride = aColStride;
        public readonly ReadOnlyMemory<T> B = b;
        public readonly int BOffset = bOffset;
        public readonly int BRowStride = bRowStride;
        public readonly int BColStride = bColStride;
        public readonly Memory<T> C = c;
        public readonly int COffset = cOffset;
        public readonly int CRowStride = cRowStride;
        public readonly bool Accumulate = accumulate;
    }

    /// <summary>Reference-order fallback for tiny products and machines without 256-bit vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Naive<T>(int m, int n, int k, in Operands<T> o)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // i-p-j order so the inner loop runs along C's row.
        var a = o.A.Span;
        var b = o.B.Span;
        var c = o.C.Span;
        for (var i = 0; i < m; i++)
        {
            var cRow = c.Slice(o.COffset + i * o.CRowStride, n);
            if (!o.Accumulate)
            {
                cRow.Clear();
            }

            var aRow = o.AOffset + i * o.ARowStride;
            for (var p = 0; p < k; p++)
            {
                var aip = a[aRow + p * o.AColStride];
                var bAt = o.BOffset + p * o.BRowStride;
                if (o.BColStride == 1)
                {
                    var bRow = b.Slice(bAt, n);
                    for (var j = 0; j < cRow.Length; j++)
                    {
                        cRow[j] += aip * bRow[j];
                    }
                }
                else
                {
                    for (var j = 0; j < cRow.Length; j++)
                    {
                        cRow[j] += aip * b[bAt + j * o.BColStride];
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Blocked<T, TKernel>(int m, int n, int k, in Operands<T> o)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TKernel : struct, IMicroKernel<T>
    {
        var threads = Workers((long)m * n * k);
        if (threads <= 1 && SplitsBelowTheGrain((long)m * n * k))
        {
            threads = 2;
        }

        // Every worker reads the whole of the operand the split does not cut, so split the larger of
        // m and n: the shared operand is then the smaller one.
        var splitRows = m >= n;
        var unit = splitRows ? TKernel.Mr : TKernel.Nr;
        var extent = splitRows ? m : n;
        threads = Math.Min(threads, (extent + unit - 1) / unit);
        var packedA = o.PackedA is { } given ? new Prepacked<T>(given.Panels!, 0, given.RoundedM) : default;
        if (threads <= 1)
        {
            Block<T, TKernel>(0, m, 0, n, k, in o, packedA, default);
            return;
        }

        // The shared operand is packed once, into the caller's pack buffer, by all workers together (each a
        // share of its micro-panels, every depth slice), instead of in full by each: items [0, packs) pack, the
        // rest compute chunks of C with the packed panels. Items are claimed in order, so a participant that
        // claims a chunk knows every pack item has been claimed by a running participant and only waits for
        // those to finish: a late or starved pool thread costs speed, never a deadlock.
        var shareA = !splitRows && o.PackedA is null;
        var width = splitRows ? TKernel.Nr : TKernel.Mr;
        var rounded = RoundUp(splitRows ? n : m, width);
        var shared = (long)rounded * k * Unsafe.SizeOf<T>() <= SharedPackBytes && (splitRows || shareA) && !SharedPackingDisabled;
        var panels = rounded / width;
        var packs = shared ? Math.Min(panels, 2 * threads) : 0;
        var prepacked = default(Prepacked<T>);
        if (shared)
        {
            var buffer = splitRows ? PackBuffers<T>.RentB(rounded * k, out var start) : PackBuffers<T>.RentA(rounded * k, out start);
            prepacked = new Prepacked<T>(buffer, start, rounded);
        }

        var units = (extent + unit - 1) / unit;
        var operands = o;
        var packed = 0;
        var failed = 0;
        Threads.Claim(packs + threads, threads, static () => 0, (item, _) =>
        {
            if (item < packs)
            {
                try
                {
                    PackShared<T>(splitRows, width, splitRows ? n : m, k, (int)((long)panels * item / packs) * width, (int)((long)panels * (item + 1) / packs) * width, in operands, prepacked);
                }
                catch
                {
                    // The job skips items claimed after an error, so later packs may never count: release the waiters.
                    Volatile.Write(ref failed, 1);
                    throw;
                }
                finally
                {
                    Interlocked.Increment(ref packed);
                }

                return;
            }

            var spinner = default(SpinWait);
            while (Volatile.Read(ref packed) < packs)
            {
                if (Volatile.Read(ref failed) != 0)
                {
                    return;
                }

                spinner.SpinOnce(sleep1Threshold: -1);
            }

            // Chunks are whole micro-tiles so only the last one sees a ragged edge.
            var chunk = item - packs;
            var start = (int)Math.Min((long)units * chunk / threads * unit, extent);
            var end = (int)Math.Min((long)units * (chunk + 1) / threads * unit, extent);
            if (start >= end)
            {
                return;
            }

            if (splitRows)
            {
                Block<T, TKernel>(start, end, 0, n, k, in operands, packedA, prepacked);
            }
            else
            {
                Block<T, TKernel>(0, m, start, end, k, in operands, shareA ? prepacked : packedA, default);
            }
        },
        static _ => { });
    }

    /// <summary>
    /// Packs lines [l0, l1) of the shared operand (columns of B when <paramref name="ofB"/>, else rows of A;
    /// <paramref name="lines"/> of them are real, the rest zero), every depth slice, where
    /// <see cref="Block{T, TKernel}"/> looks for them in <paramref name="target"/>.
    /// </summary>
    private static void PackShared<T>(bool ofB, int width, int lines, int k, int l0, int l1, in Operands<T> o, Prepacked<T> target)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var count = Math.Min(l1, lines) - l0;
        var kcMax = SliceDepth(k);
        for (var pc = 0; pc < k; pc += kcMax)
        {
            var kc = Math.Min(kcMax, k - pc);
            ref var dst = ref target.At(pc, l0, kc);
            if (ofB)
            {
                PackB<T>(width, kc, count, pc, l0, in o, ref dst);
            }
            else
            {
                PackA<T>(width, count, kc, l0, pc, in o, ref dst);
            }
        }
    }

    /// <summary>
    /// An operand packed before the loop nest runs (<see cref="Pack{T}"/>, or by the workers together):
    /// depth slice pc holds its lines' micro-panels one after another from Start + pc·Rounded, line l's panel
    /// at + l·kc, as a block packed inside <see cref="Block{T, TKernel}"/> is laid out.
    /// </summary>
    private readonly struct Prepacked<T>(T[] panels, int start, int rounded)
        where T : unmanaged
    {
        public readonly T[]? Panels = panels;
        public readonly int Start = start;
        public readonly int Rounded = rounded;

        public bool IsSet => Panels is not null;

        public ref T At(int pc, int line, int kc) =>
            ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(Panels!), Start + (nint)pc * Rounded + (nint)line * kc);
    }

    /// <summary>Computes rows [i0, i1) × columns [j0, j1) of C with the BLIS loop nest.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block<T, TKernel>(int i0, int i1, int j0, int j1, int k, in Operands<T> o, Prepacked<T> packedA, Prepacked<T> packedB)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TKernel : struct, IMicroKernel<T>
    {
        var mr = TKernel.Mr;
        var nr = TKernel.Nr;
        var mcMax = Math.Max(mr, ABlockBytes / Unsafe.SizeOf<T>() / Kc / mr * mr);
        var ncMax = Math.Max(nr, BPanelBytes / Unsafe.SizeOf<T>() / Kc / nr * nr);

        var kcMax = SliceDepth(k);
        var mcAlloc = Math.Min(mcMax, RoundUp(i1 - i0, mr));
        var ncAlloc = Math.Min(ncMax, RoundUp(j1 - j0, nr));
        ref var aPack = ref packedA.IsSet ? ref Unsafe.NullRef<T>() : ref PackBuffers<T>.GetA(mcAlloc * kcMax);
        ref var bPack = ref packedB.IsSet ? ref Unsafe.NullRef<T>() : ref PackBuffers<T>.GetB(ncAlloc * kcMax);

        ref var cBase = ref MemoryMarshal.GetReference(o.C.Span);
        var ldc = (nint)o.CRowStride;
        var byRows = o.AColStride == 1;

        for (var jc = j0; jc < j1; jc += ncMax)
        {
            var nc = Math.Min(ncMax, j1 - jc);

            // A's blocks are packed (or not) anew for every chunk of columns: the chunk's width is what pays for the copy.
            var direct = !packedA.IsSet && ReadsAInPlace<T>(o.ARowStride, o.AColStride, nc);
            var directB = !packedB.IsSet && ReadsBInPlace<T>(i1 - i0, o.BRowStride, o.BColStride);
            var fullColumns = nc / nr * nr;
            for (var pc = 0; pc < k; pc += kcMax)
            {
                var kc = Math.Min(kcMax, k - pc);
                var store = !o.Accumulate && pc == 0;
                ref var bBlock = ref bPack;
                ref var bRows = ref directB ? ref Unsafe.Add(ref MemoryMarshal.GetReference(o.B.Span), o.BOffset + (nint)pc * o.BRowStride + jc) : ref bPack;
                if (packedB.IsSet)
                {
                    bBlock = ref packedB.At(pc, jc, kc);
                }
                else if (directB)
                {
                    if (fullColumns < nc)
                    {
                        // The kernel reads nr columns: a ragged last panel is packed (zero-padded), at the start of the buffer.
                        PackPanels(ref Unsafe.Add(ref bRows, fullColumns), 1, o.BRowStride, nc - fullColumns, nr, kc, ref bPack);
                    }
                }
                else
                {
                    PackB<T>(nr, kc, nc, pc, jc, in o, ref bPack);
                }

                for (var ic = i0; ic < i1; ic += mcMax)
                {
                    var mc = Math.Min(mcMax, i1 - ic);

                    // A block: packed now, or where the packed operand keeps rows [ic, ic + mc) of slice pc; or, for a
                    // row-major A (rows contiguous along the depth), read in place by the micro-kernel: only a ragged
                    // last panel of fewer than mr rows is packed (the kernel reads mr rows).
                    ref var aBlock = ref aPack;
                    var full = mc / mr * mr;
                    ref var aRows = ref direct ? ref Unsafe.Add(ref MemoryMarshal.GetReference(o.A.Span), o.AOffset + (nint)ic * o.ARowStride + (nint)pc * o.AColStride) : ref aPack;
                    if (packedA.IsSet)
                    {
                        aBlock = ref packedA.At(pc, ic, kc);
                    }
                    else if (direct)
                    {
                        if (full < mc)
                        {
                            PackPanels(ref Unsafe.Add(ref aRows, full * (nint)o.ARowStride), o.ARowStride, o.AColStride, mc - full, mr, kc, ref aPack);
                        }
                    }
                    else
                    {
                        PackA<T>(mr, mc, kc, ic, pc, in o, ref aPack);
                    }

                    for (var jr = 0; jr < nc; jr += nr)
                    {
                        var ncr = Math.Min(nr, nc - jr);
                        var inPlace = directB && ncr == nr;
                        ref var bPanel = ref inPlace ? ref Unsafe.Add(ref bRows, jr) : ref Unsafe.Add(ref bBlock, directB ? 0 : (nint)jr * kc);
                        var ldb = inPlace ? (nint)o.BRowStride : nr;
                        for (var ir = 0; ir < mc; ir += mr)
                        {
                            var mcr = Math.Min(mr, mc - ir);
                            ref var cTile = ref Unsafe.Add(ref cBase, o.COffset + (nint)(ic + ir) * ldc + jc + jr);
                            if (direct && mcr == mr)
                            {
                                ref var aPanel = ref Unsafe.Add(ref aRows, ir * (nint)o.ARowStride);
                                if (byRows && ncr == nr)
                                {
                                    TKernel.Run<ARows>(kc, ref aPanel, o.ARowStride, ref bPanel, ldb, ref cTile, ldc, store);
                                }
                                else if (byRows)
                                {
                                    EdgeTile<T, TKernel, ARows>(kc, ref aPanel, o.ARowStride, ref bPanel, ldb, ref cTile, ldc, store, mcr, ncr);
                                }
                                else if (ncr == nr)
                                {
                                    TKernel.Run<AColumns>(kc, ref aPanel, o.AColStride, ref bPanel, ldb, ref cTile, ldc, store);
                                }
                                else
                                {
                                    EdgeTile<T, TKernel, AColumns>(kc, ref aPanel, o.AColStride, ref bPanel, ldb, ref cTile, ldc, store, mcr, ncr);
                                }
                            }
                            else
                            {
                                // Packed (the ragged panel of a direct block sits at the start of the pack buffer).
                                ref var aPanel = ref Unsafe.Add(ref aBlock, direct ? 0 : (nint)ir * kc);
                                if (mcr == mr && ncr == nr)
                                {
                                    TKernel.Run<APacked>(kc, ref aPanel, 0, ref bPanel, ldb, ref cTile, ldc, store);
                                }
                                else
                                {
                                    EdgeTile<T, TKernel, APacked>(kc, ref aPanel, 0, ref bPanel, ldb, ref cTile, ldc, store, mcr, ncr);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Whether the micro-kernel reads an A with these strides in place (row-major, or column-major: a transposed
    /// view) instead of packing it, for a chunk of <paramref name="columns"/> columns of C: not when its lines are a
    /// nonzero multiple of <see cref="AliasBytes"/> apart and at least <see cref="AliasedPackColumns"/> columns of B
    /// sweep it, where the packed copy is faster (an n = 2048 float product 4 % at one thread, n = 1024 2 %).
    /// </summary>
    internal static bool ReadsAInPlace<T>(nint aRowStride, nint aColStride, int columns)
        where T : unmanaged
    {
        var byRows = aColStride == 1;
        var lineStride = byRows ? aRowStride : aColStride;
        var aliased = lineStride != 0 && lineStride * Unsafe.SizeOf<T>() % AliasBytes == 0 && columns >= AliasedPackColumns;
        return !DirectADisabled && (byRows || (aRowStride == 1 && !DirectColumnsDisabled)) && (PackAliasedADisabled || !aliased);
    }

    /// <summary>
    /// Whether the micro-kernel reads a B with these strides in place instead of packing it, in a product of
    /// <paramref name="rows"/> rows: B row-major, at most <see cref="DirectBRows"/> rows of A against it, and its rows a
    /// whole number of cache lines apart with that number odd or twice an odd one, so that a panel's kc rows (two lines
    /// each for 512-bit float panels) spread over every L1 set instead of crowding a few.
    /// </summary>
    internal static bool ReadsBInPlace<T>(int rows, nint bRowStride, nint bColStride)
        where T : unmanaged
    {
        var bytes = bRowStride * Unsafe.SizeOf<T>();
        return !DirectBDisabled && bColStride == 1 && rows <= DirectBRows && bytes > 0 && bytes % 64 == 0 && (bytes / 64) % 4 != 0;
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    /// <summary>Elements of <typeparamref name="T"/> in a 64-byte cache line: the most <see cref="LineStart{T}"/> skips.</summary>
    internal static int LineElements<T>()
        where T : unmanaged
        => 64 / Unsafe.SizeOf<T>();

    /// <summary>
    /// The first index of <paramref name="array"/> at or after <paramref name="start"/> whose element sits on a 64-byte
    /// boundary (at most <see cref="LineElements{T}"/> − 1 later): where packed panels start, and a convolution's block of
    /// columns whose rows the micro-kernel may read in place (<see cref="ReadsBInPlace{T}"/>). An array the collector may
    /// move (not pinned, under 85 KB) can lose that alignment later: the products then only run slower, never differently.
    /// </summary>
    internal static unsafe int LineStart<T>(T[] array, int start = 0)
        where T : unmanaged
    {
        var address = (nuint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array)) + (nuint)start * (nuint)Unsafe.SizeOf<T>();
        var misalignment = (int)(address & 63);
        return start + (misalignment == 0 ? 0 : (64 - misalignment) / Unsafe.SizeOf<T>());
    }

    /// <summary>
    /// A ragged tile: the packed panels are zero-padded, so the full micro-kernel runs into a scratch
    /// tile and only the valid mcr×ncr corner is merged into C (never touching C's neighbours).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void EdgeTile<T, TKernel, TA>(
        int kc, ref T aPanel, nint lda, ref T bPanel, nint ldb, ref T cTile, nint ldc, bool store, int mcr, int ncr)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TKernel : struct, IMicroKernel<T>
        where TA : struct, IALayout
    {
        // [SkipLocalsInit] keeps this free of zeroing: the kernel stores every element.
        Span<T> scratch = stackalloc T[TKernel.Mr * TKernel.Nr];
        ref var s = ref MemoryMarshal.GetReference(scratch);
        TKernel.Run<TA>(kc, ref aPanel, lda, ref bPanel, ldb, ref s, TKernel.Nr, store: true);
        for (var i = 0; i < mcr; i++)
        {
            ref var sRow = ref Unsafe.Add(ref s, (nint)i * TKernel.Nr);
            ref var cRow = ref Unsafe.Add(ref cTile, i * ldc);
            for (var j = 0; j < ncr; j++)
            {
                Unsafe.Add(ref cRow, j) = store ? Unsafe.Add(ref sRow, j) : Unsafe.Add(ref cRow, j) + Unsafe.Add(ref sRow, j);
            }
        }
    }

    /// <summary>
    /// Packs A[ic..ic+mc, pc..pc+kc] as consecutive micro-panels of mr rows; within a panel element
    /// (i, p) sits at p·mr + i, so the micro-kernel reads one contiguous column of mr values per step.
    /// Rows past mc are zero so ragged tiles can use the full kernel.
    /// </summary>
    private static void PackA<T>(int mr, int mc, int kc, int ic, int pc, in Operands<T> o, ref T dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref var origin = ref Unsafe.Add(ref MemoryMarshal.GetReference(o.A.Span), o.AOffset + (nint)ic * o.ARowStride + (nint)pc * o.AColStride);
        PackPanels(ref origin, o.ARowStride, o.AColStride, mc, mr, kc, ref dst);
    }

    /// <summary>
    /// Packs B[pc..pc+kc, jc..jc+nc] as consecutive micro-panels of nr columns; within a panel element
    /// (p, j) sits at p·nr + j, one contiguous row of nr values per micro-kernel step. Columns past nc
    /// are zero.
    /// </summary>
    private static void PackB<T>(int nr, int kc, int nc, int pc, int jc, in Operands<T> o, ref T dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref var origin = ref Unsafe.Add(ref MemoryMarshal.GetReference(o.B.Span), o.BOffset + (nint)pc * o.BRowStride + (nint)jc * o.BColStride);
        PackPanels(ref origin, o.BColStride, o.BRowStride, nc, nr, kc, ref dst);
    }

    /// <summary>
    /// The packing both operands share: <paramref name="count"/> lines (rows of A, columns of B), each
    /// <paramref name="kc"/> deep, into micro-panels of <paramref name="width"/> lines where element
    /// (line l, depth p) sits at p·width + l. Lines past <paramref name="count"/> are zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackPanels<T>(ref T origin, nint lineStride, nint depthStride, int count, int width, int kc, ref T dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var first = 0;
        if (lineStride == 1 && count >= 2 * width)
        {
            // Lines adjacent in memory (a row-major B, a column-major A) and several whole panels: sweep the source
            // row by row, each step of depth handing one contiguous piece to every panel, so the reads run down
            // memory in order instead of a strided column of pieces per panel.
            first = count / width * width;
            for (var p = 0; p < kc; p++)
            {
                ref var row = ref Unsafe.Add(ref origin, p * depthStride);
                ref var at = ref Unsafe.Add(ref dst, (nint)p * width);
                for (var l0 = 0; l0 < first; l0 += width)
                {
                    CopyContiguous(ref Unsafe.Add(ref row, l0), ref Unsafe.Add(ref at, (nint)l0 * kc), width);
                }
            }
        }

        for (var l0 = first; l0 < count; l0 += width)
        {
            var lines = Math.Min(width, count - l0);
            ref var panel = ref Unsafe.Add(ref dst, (nint)l0 * kc);
            ref var start = ref Unsafe.Add(ref origin, l0 * lineStride);
            if (lines == width && lineStride == 1)
            {
                // Lines adjacent in memory (column-major A, row-major B): each step of depth is one contiguous copy.
                for (var p = 0; p < kc; p++)
                {
                    CopyContiguous(ref Unsafe.Add(ref start, p * depthStride), ref Unsafe.Add(ref panel, (nint)p * width), width);
                }
            }
            else if (lines == width && lineStride == 0)
            {
                // Every line the same (a broadcast operand, e.g. the expanded gradient of a Sum): each
                // step of depth is one value repeated across the panel.
                for (var p = 0; p < kc; p++)
                {
                    MemoryMarshal.CreateSpan(ref Unsafe.Add(ref panel, (nint)p * width), width).Fill(Unsafe.Add(ref start, p * depthStride));
                }
            }
            else if (lines == width && depthStride == 1 && CanTranspose<T>(width))
            {
                // Each line contiguous along depth (row-major A, column-major B as Bᵀ in a backward pass):
                // a register-blocked transpose gathers one element from each line per packed step.
                Transpose(width, kc, ref start, lineStride, ref panel, width);
            }
            else
            {
                // Line by line, so a line contiguous along depth is read sequentially.
                for (var l = 0; l < lines; l++)
                {
                    ref var line = ref Unsafe.Add(ref start, l * lineStride);
                    ref var target = ref Unsafe.Add(ref panel, l);
                    for (var p = 0; p < kc; p++)
                    {
                        Unsafe.Add(ref target, (nint)p * width) = Unsafe.Add(ref line, p * depthStride);
                    }
                }

                for (var p = 0; p < kc; p++)
                {
                    for (var l = lines; l < width; l++)
                    {
                        Unsafe.Add(ref panel, (nint)p * width + l) = T.Zero;
                    }
                }
            }
        }
    }

    /// <summary>
    /// dst[p·dstStride + i] = src[i·srcStride + p] for i &lt; rows (a multiple of 8), p &lt; kc, through the 8×8 register
    /// transposes where AVX is there (attention's Kᵀ and Vᵀ).
    /// </summary>
    internal static void TransposeFloat(int rows, int kc, ref float src, nint srcStride, ref float dst, nint dstStride)
    {
        if (CanTranspose<float>(rows))
        {
            Transpose(rows, kc, ref src, srcStride, ref dst, dstStride);
            return;
        }

        for (var p = 0; p < kc; p++)
        {
            for (var i = 0; i < rows; i++)
            {
                Unsafe.Add(ref dst, p * dstStride + i) = Unsafe.Add(ref src, i * srcStride + p);
            }
        }
    }

    /// <summary>Whether <see cref="Transpose{T}"/> has a register-blocked path for this many rows.</summary>
    private static bool CanTranspose<T>(int rows) =>
        Avx.IsSupported
        && ((typeof(T) == typeof(float) && rows % 8 == 0) || (typeof(T) == typeof(double) && rows % 4 == 0));

    /// <summary>
    /// dst[p·dstStride + i] = src[i·srcStride + p] for i &lt; rows, p &lt; kc, where each source row is
    /// contiguous. Done as 8×8 (float) or 4×4 (double) register transposes, so the strided side of the
    /// copy costs shuffles instead of one scalar load or store per element.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Transpose<T>(int rows, int kc, ref T src, nint srcStride, ref T dst, nint dstStride)
    {
        var block = typeof(T) == typeof(float) ? 8 : 4;
        var p = 0;
        for (; p + block <= kc; p += block)
        {
            for (var i = 0; i < rows; i += block)
            {
                ref var from = ref Unsafe.Add(ref src, i * srcStride + p);
                ref var to = ref Unsafe.Add(ref dst, p * dstStride + i);
                if (typeof(T) == typeof(float))
                {
                    Transpose8x8(ref Unsafe.As<T, float>(ref from), srcStride, ref Unsafe.As<T, float>(ref to), dstStride);
                }
                else
                {
                    Transpose4x4(ref Unsafe.As<T, double>(ref from), srcStride, ref Unsafe.As<T, double>(ref to), dstStride);
                }
            }
        }

        for (; p < kc; p++)
        {
            for (var i = 0; i < rows; i++)
            {
                Unsafe.Add(ref dst, p * dstStride + i) = Unsafe.Add(ref src, i * srcStride + p);
            }
        }
    }

    /// <summary>The classic unpack / shuffle / lane-permute 8×8 float transpose.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(ref float src, nint srcStride, ref float dst, nint dstStride)
    {
        var r0 = Vector256.LoadUnsafe(ref src);
        var r1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, srcStride));
        var r2 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, 2 * srcStride));
        var r3 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, 3 * srcStride));
        var r4 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, 4 * srcStride));
        var r5 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, 5 * srcStride));
        var r6 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, 6 * srcStride));
        var r7 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, 7 * srcStride));

        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);

        Avx.Permute2x128(u0, u4, 0x20).StoreUnsafe(ref dst);
        Avx.Permute2x128(u1, u5, 0x20).StoreUnsafe(ref Unsafe.Add(ref dst, dstStride));
        Avx.Permute2x128(u2, u6, 0x20).StoreUnsafe(ref Unsafe.Add(ref dst, 2 * dstStride));
        Avx.Permute2x128(u3, u7, 0x20).StoreUnsafe(ref Unsafe.Add(ref dst, 3 * dstStride));
        Avx.Permute2x128(u0, u4, 0x31).StoreUnsafe(ref Unsafe.Add(ref dst, 4 * dstStride));
        Avx.Permute2x128(u1, u5, 0x31).StoreUnsafe(ref Unsafe.Add(ref dst, 5 * dstStride));
        Avx.Permute2x128(u2, u6, 0x31).StoreUnsafe(ref Unsafe.Add(ref dst, 6 * dstStride));
        Avx.Permute2x128(u3, u7, 0x31).StoreUnsafe(ref Unsafe.Add(ref dst, 7 * dstStride));
    }

    /// <summary>4×4 double transpose: unpack pairs, then swap 128-bit lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose4x4(ref double src, nint srcStride, ref double dst, nint dstStride)
    {
        var r0 = Vector256.LoadUnsafe(ref src);
        var r1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, srcStride));
        var r2 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, 2 * srcStride));
        var r3 = Vector256.LoadUnsafe(ref Unsafe.Add(ref src, 3 * srcStride));
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        Avx.Permute2x128(t0, t2, 0x20).StoreUnsafe(ref dst);
        Avx.Permute2x128(t1, t3, 0x20).StoreUnsafe(ref Unsafe.Add(ref dst, dstStride));
        Avx.Permute2x128(t0, t2, 0x31).StoreUnsafe(ref Unsafe.Add(ref dst, 2 * dstStride));
        Avx.Permute2x128(t1, t3, 0x31).StoreUnsafe(ref Unsafe.Add(ref dst, 3 * dstStride));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyContiguous<T>(ref T from, ref T to, int count)
        where T : unmanaged
    {
        // count is MR or NR, so the loops below run a handful of times at most.
        var i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + Vector512<T>.Count <= count; i += Vector512<T>.Count)
            {
                Vector512.LoadUnsafe(ref from, (nuint)i).StoreUnsafe(ref to, (nuint)i);
            }
        }

        for (; i + Vector256<T>.Count <= count; i += Vector256<T>.Count)
        {
            Vector256.LoadUnsafe(ref from, (nuint)i).StoreUnsafe(ref to, (nuint)i);
        }

        for (; i < count; i++)
        {
            Unsafe.Add(ref to, i) = Unsafe.Add(ref from, i);
        }
    }

    /// <summary>Thread-local pack buffers, 64-byte aligned and reused so pages are faulted in once.</summary>
    private static class PackBuffers<T>
        where T : unmanaged
    {
        [ThreadStatic]
        private static T[]? t_a;

        [ThreadStatic]
        private static T[]? t_b;

        public static ref T GetA(int length) => ref At(RentA(length, out var start), start);

        public static ref T GetB(int length) => ref At(RentB(length, out var start), start);

        /// <summary>The thread's A buffer itself and where its aligned part starts, to hand to other threads.</summary>
        public static T[] RentA(int length, out int start) => Get(ref t_a, length, out start);

        /// <summary>The thread's B buffer itself and where its aligned part starts, to hand to other threads.</summary>
        public static T[] RentB(int length, out int start) => Get(ref t_b, length, out start);

        private static ref T At(T[] buffer, int start) => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(buffer), start);

        private static T[] Get(ref T[]? buffer, int length, out int start)
        {
            var pad = LineElements<T>();
            if (buffer is null || buffer.Length < length + pad)
            {
                // Pinned so the alignment computed below stays valid; uninitialised because packing
                // overwrites every element it later reads.
                buffer = GC.AllocateUninitializedArray<T>(length + pad, pinned: true);
            }

            start = LineStart(buffer);
            return buffer;
        }
    }

    private interface IMicroKernel<T>
        where T : unmanaged
    {
        static abstract int Mr { get; }

        static abstract int Nr { get; }

        /// <summary>
        /// C[0..Mr, 0..Nr] (row stride ldc) = (store ? 0 : C) + Σ_p A(i, p)·b[p·ldb + j], where A(i, p) is
        /// aPanel[p·Mr + i] (a packed panel) or, for <see cref="ARows"/>, a[i·lda + p] (Mr rows of a row-major A read in place),
        /// and B a packed panel (ldb = Nr) or Nr columns of a row-major B read in place (ldb its row stride).
        /// </summary>
        static abstract void Run<TA>(int kc, ref T a, nint lda, ref T b, nint ldb, ref T c, nint ldc, bool store)
            where TA : struct, IALayout;
    }

    /// <summary>How a micro-kernel finds A's elements: in a packed panel, or in Mr rows of A itself.</summary>
    private interface IALayout
    {
        static abstract bool Rows { get; }

        static abstract bool Columns { get; }
    }

    /// <summary>A packed micro-panel: element (i, p) at p·Mr + i.</summary>
    private struct APacked : IALayout
    {
        public static bool Rows => false;

        public static bool Columns => false;
    }

    /// <summary>Rows of a row-major A read where they are: element (i, p) at i·lda + p (no packing).</summary>
    private struct ARows : IALayout
    {
        public static bool Rows => true;

        public static bool Columns => false;
    }

    /// <summary>Columns of a column-major A (a transposed view) read where they are: element (i, p) at i + p·lda.</summary>
    private struct AColumns : IALayout
    {
        public static bool Rows => false;

        public static bool Columns => true;
    }

    /// <summary>One row of a C tile, the 2·Count elements from c + row: (store ? 0 : C) + the two accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Flush<T, TV, TL>(ref T c, nint row, TV lo, TV hi, bool store)
        where T : unmanaged
        where TV : struct
        where TL : struct, ILanes<T, TV>
    {
        ref var at = ref Unsafe.Add(ref c, row);
        if (!store)
        {
            lo = TL.Add(lo, TL.Load(ref at));
            hi = TL.Add(hi, TL.Load(ref Unsafe.Add(ref at, TL.Count)));
        }

        TL.Store(lo, ref at);
        TL.Store(hi, ref Unsafe.Add(ref at, TL.Count));
    }

    /// <summary>
    /// 8 × (2 · 512-bit) kernel: 16 accumulators + 2 B vectors + 1 broadcast fit the 32 zmm registers,
    /// and 16 independent FMAs per step cover the FMA latency × 2 pipes on Zen 4/5 and Intel server cores.
    /// </summary>
    private struct Kernel512<T> : IMicroKernel<T>
        where T : unmanaged
    {
        public static int Mr => 8;

        public static int Nr => 2 * Vector512<T>.Count;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static unsafe void Run<TA>(int kc, ref T a, nint lda, ref T b, nint ldb, ref T c, nint ldc, bool store)
            where TA : struct, IALayout
        {
            // A(i, p) at i·rs + p·step: a packed panel (rs 1, step 8) or rows of A (rs lda, step 1).
            var rs = TA.Rows ? lda : 1;
            var step = TA.Rows ? 1 : TA.Columns ? lda : 8;
            if (Sse.IsSupported)
            {
                // The C tile was last touched one KC slice ago (or never) and is unlikely to be in L1;
                // start its 16 cache-line loads now so they overlap the k loop instead of stalling the flush.
                // The address is unpinned, but a prefetch of a stale address is harmless.
                for (var i = 0; i < 8; i++)
                {
                    var row = (byte*)Unsafe.AsPointer(ref Unsafe.Add(ref c, i * ldc));
                    Sse.Prefetch0(row);
                    Sse.Prefetch0(row + 64);
                }
            }

            var w = (nuint)Vector512<T>.Count;
            Vector512<T> c00 = default, c01 = default, c10 = default, c11 = default;
            Vector512<T> c20 = default, c21 = default, c30 = default, c31 = default;
            Vector512<T> c40 = default, c41 = default, c50 = default, c51 = default;
            Vector512<T> c60 = default, c61 = default, c70 = default, c71 = default;
            for (var p = 0; p < kc; p++)
            {
                var b0 = Vector512.LoadUnsafe(ref b);
                var b1 = Vector512.LoadUnsafe(ref b, w);
                var x = Vector512.Create(a);
                c00 = Lanes512<T>.Fma(x, b0, c00);
                c01 = Lanes512<T>.Fma(x, b1, c01);
                x = Vector512.Create(Unsafe.Add(ref a, 1 * rs));
                c10 = Lanes512<T>.Fma(x, b0, c10);
                c11 = Lanes512<T>.Fma(x, b1, c11);
                x = Vector512.Create(Unsafe.Add(ref a, 2 * rs));
                c20 = Lanes512<T>.Fma(x, b0, c20);
                c21 = Lanes512<T>.Fma(x, b1, c21);
                x = Vector512.Create(Unsafe.Add(ref a, 3 * rs));
                c30 = Lanes512<T>.Fma(x, b0, c30);
                c31 = Lanes512<T>.Fma(x, b1, c31);
                x = Vector512.Create(Unsafe.Add(ref a, 4 * rs));
                c40 = Lanes512<T>.Fma(x, b0, c40);
                c41 = Lanes512<T>.Fma(x, b1, c41);
                x = Vector512.Create(Unsafe.Add(ref a, 5 * rs));
                c50 = Lanes512<T>.Fma(x, b0, c50);
                c51 = Lanes512<T>.Fma(x, b1, c51);
                x = Vector512.Create(Unsafe.Add(ref a, 6 * rs));
                c60 = Lanes512<T>.Fma(x, b0, c60);
                c61 = Lanes512<T>.Fma(x, b1, c61);
                x = Vector512.Create(Unsafe.Add(ref a, 7 * rs));
                c70 = Lanes512<T>.Fma(x, b0, c70);
                c71 = Lanes512<T>.Fma(x, b1, c71);
                a = ref Unsafe.Add(ref a, step);
                b = ref Unsafe.Add(ref b, ldb);
            }

            Flush<T, Vector512<T>, Lanes512<T>>(ref c, 0, c00, c01, store);
            Flush<T, Vector512<T>, Lanes512<T>>(ref c, ldc, c10, c11, store);
            Flush<T, Vector512<T>, Lanes512<T>>(ref c, 2 * ldc, c20, c21, store);
            Flush<T, Vector512<T>, Lanes512<T>>(ref c, 3 * ldc, c30, c31, store);
            Flush<T, Vector512<T>, Lanes512<T>>(ref c, 4 * ldc, c40, c41, store);
            Flush<T, Vector512<T>, Lanes512<T>>(ref c, 5 * ldc, c50, c51, store);
            Flush<T, Vector512<T>, Lanes512<T>>(ref c, 6 * ldc, c60, c61, store);
            Flush<T, Vector512<T>, Lanes512<T>>(ref c, 7 * ldc, c70, c71, store);
        }
    }

    /// <summary>
    /// 6 × (2 · 256-bit) kernel for AVX2-class machines: 12 accumulators + 2 B vectors + 1 broadcast
    /// fit the 16 ymm registers.
    /// </summary>
    private struct Kernel256<T> : IMicroKernel<T>
        where T : unmanaged
    {
        public static int Mr => 6;

        public static int Nr => 2 * Vector256<T>.Count;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Run<TA>(int kc, ref T a, nint lda, ref T b, nint ldb, ref T c, nint ldc, bool store)
            where TA : struct, IALayout
        {
            var rs = TA.Rows ? lda : 1;
            var step = TA.Rows ? 1 : TA.Columns ? lda : 6;
            var w = (nuint)Vector256<T>.Count;
            Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default;
            Vector256<T> c20 = default, c21 = default, c30 = default, c31 = default;
            Vector256<T> c40 = default, c41 = default, c50 = default, c51 = default;
            for (var p = 0; p < kc; p++)
            {
                var b0 = Vector256.LoadUnsafe(ref b);
                var b1 = Vector256.LoadUnsafe(ref b, w);
                var x = Vector256.Create(a);
                c00 = Lanes256<T>.Fma(x, b0, c00);
                c01 = Lanes256<T>.Fma(x, b1, c01);
                x = Vector256.Create(Unsafe.Add(ref a, 1 * rs));
                c10 = Lanes256<T>.Fma(x, b0, c10);
                c11 = Lanes256<T>.Fma(x, b1, c11);
                x = Vector256.Create(Unsafe.Add(ref a, 2 * rs));
                c20 = Lanes256<T>.Fma(x, b0, c20);
                c21 = Lanes256<T>.Fma(x, b1, c21);
                x = Vector256.Create(Unsafe.Add(ref a, 3 * rs));
                c30 = Lanes256<T>.Fma(x, b0, c30);
                c31 = Lanes256<T>.Fma(x, b1, c31);
                x = Vector256.Create(Unsafe.Add(ref a, 4 * rs));
                c40 = Lanes256<T>.Fma(x, b0, c40);
                c41 = Lanes256<T>.Fma(x, b1, c41);
                x = Vector256.Create(Unsafe.Add(ref a, 5 * rs));
                c50 = Lanes256<T>.Fma(x, b0, c50);
                c51 = Lanes256<T>.Fma(x, b1, c51);
                a = ref Unsafe.Add(ref a, step);
                b = ref Unsafe.Add(ref b, ldb);
            }

            Flush<T, Vector256<T>, Lanes256<T>>(ref c, 0, c00, c01, store);
            Flush<T, Vector256<T>, Lanes256<T>>(ref c, ldc, c10, c11, store);
            Flush<T, Vector256<T>, Lanes256<T>>(ref c, 2 * ldc, c20, c21, store);
            Flush<T, Vector256<T>, Lanes256<T>>(ref c, 3 * ldc, c30, c31, store);
            Flush<T, Vector256<T>, Lanes256<T>>(ref c, 4 * ldc, c40, c41, store);
            Flush<T, Vector256<T>, Lanes256<T>>(ref c, 5 * ldc, c50, c51, store);
        }
    }
}
