using System.Numerics;
using Autograd.Kernels;

namespace Autograd.Tests.Kernels;

/// <summary>
/// Checks <c>Gemm.Multiply</c> against a double-precision triple loop over shapes that hit every
/// path: the scalar fallback, full and ragged micro-tiles, several KC slices and MC blocks, packing fast
/// paths (contiguous, transposed) and the generic strided one, and the parallel split.
/// </summary>
[TestFixture]
[NonParallelizable] // Toggles the kernels' width switch and Gemm's thread override.
public class GemmTests
{
    private const float FloatSentinel = -7777.25f;
    private const double DoubleSentinel = -7777.25;

    public enum Layout
    {
        /// <summary>Row-major: row stride = columns (+ padding), column stride 1.</summary>
        RowMajor,

        /// <summary>A transposed view: row stride 1, column stride = rows (+ padding).</summary>
        ColumnMajor,

        /// <summary>Neither stride is 1 (every other element of a wider buffer).</summary>
        Strided,

        /// <summary>Row stride 0: every row is the same broadcast row.</summary>
        BroadcastRows,

        /// <summary>Column stride 0: every column is the same broadcast column.</summary>
        BroadcastColumns,

        /// <summary>Both strides 0: one value everywhere (the expanded gradient of a Sum).</summary>
        BroadcastScalar,

        /// <summary>Row-major with rows 4 KiB apart (an n = 1024 float matrix's pitch).</summary>
        RowMajorAligned,

        /// <summary>A transposed view with columns 4 KiB apart.</summary>
        ColumnMajorAligned,

        /// <summary>Row-major with rows an odd number of 64-byte lines apart (a B that Gemm reads in place).</summary>
        RowMajorLines,
    }

    public enum Kernel
    {
        Widest,
        Vector256,
    }

    private static readonly (int M, int N, int K)[] s_shapes =
    [
        (1, 1, 1),
        (2, 3, 4),
        (7, 13, 29),
        (8, 32, 16),
        (16, 64, 256),
        (9, 33, 257),
        (31, 47, 61),
        (1, 300, 40),
        (300, 1, 40),
        (50, 50, 1),
        (17, 65, 513),
        (300, 257, 129),
        (3, 4100, 2),
    ];

    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (var (m, n, k) in s_shapes)
        {
            foreach (var aLayout in new[] { Layout.RowMajor, Layout.ColumnMajor, Layout.Strided })
            {
                foreach (var bLayout in new[] { Layout.RowMajor, Layout.ColumnMajor, Layout.Strided })
                {
                    var accumulate = ((int)aLayout + (int)bLayout + m) % 2 == 0;
                    yield return new TestCaseData(m, n, k, aLayout, bLayout, accumulate, Kernel.Widest, 0)
                        .SetArgDisplayNames($"{m}x{n}x{k}", $"A {aLayout}", $"B {bLayout}", accumulate ? "C+=" : "C=");
                }
            }
        }
    }

    public static IEnumerable<TestCaseData> EdgeCases()
    {
        // Broadcast rows on either side, both accumulate modes, both kernels and forced worker counts.
        (int M, int N, int K, Layout A, Layout B)[] cases =
        [
            (37, 70, 45, Layout.BroadcastRows, Layout.RowMajor),
            (37, 70, 45, Layout.RowMajor, Layout.BroadcastRows),
            (37, 70, 45, Layout.BroadcastColumns, Layout.RowMajor),
            (37, 70, 45, Layout.RowMajor, Layout.BroadcastColumns),
            (64, 96, 45, Layout.BroadcastScalar, Layout.ColumnMajor),
            (64, 96, 45, Layout.ColumnMajor, Layout.BroadcastScalar),
            (300, 257, 129, Layout.RowMajor, Layout.RowMajor),
            (300, 257, 129, Layout.ColumnMajor, Layout.ColumnMajor),
            (129, 300, 70, Layout.Strided, Layout.RowMajor),
            (7, 13, 29, Layout.RowMajor, Layout.RowMajor),

            // Large enough for 2 and 3 workers (Gemm.Workers), whose shared operand they pack together:
            // B when m ≥ n, A otherwise; ragged last panels, uneven pack shares, several depth slices.
            (301, 257, 129, Layout.RowMajor, Layout.ColumnMajor),
            (150, 301, 300, Layout.ColumnMajor, Layout.RowMajor),
            (150, 301, 300, Layout.RowMajor, Layout.Strided),
            (200, 100, 600, Layout.Strided, Layout.RowMajor),
        ];
        foreach (var (m, n, k, aLayout, bLayout) in cases)
        {
            foreach (var kernel in new[] { Kernel.Widest, Kernel.Vector256 })
            {
                foreach (var threads in new[] { 1, 2, 3 })
                {
                    foreach (var accumulate in new[] { false, true })
                    {
                        yield return new TestCaseData(m, n, k, aLayout, bLayout, accumulate, kernel, threads)
                            .SetArgDisplayNames(
                                $"{m}x{n}x{k}", $"A {aLayout}", $"B {bLayout}", accumulate ? "C+=" : "C=", $"{kernel}", $"{threads} thr");
                    }
                }
            }
        }
    }

    // An A whose lines are 4 KiB apart, swept by more than 1024 columns of B: packed rather than read in place
    // (Gemm.ReadsAInPlace), on one worker and on two splitting the rows (each sweeps every column).
    public static IEnumerable<TestCaseData> AliasedCases()
    {
        foreach (var aLayout in new[] { Layout.RowMajorAligned, Layout.ColumnMajorAligned })
        {
            foreach (var threads in new[] { 1, 2 })
            {
                foreach (var accumulate in new[] { false, true })
                {
                    yield return new TestCaseData(1030, 1030, 40, aLayout, Layout.RowMajor, accumulate, Kernel.Widest, threads)
                        .SetArgDisplayNames("1030x1030x40", $"A {aLayout}", "B RowMajor", accumulate ? "C+=" : "C=", $"{threads} thr");
                }
            }
        }
    }

    // A row-major B with rows an odd number of cache lines apart, against at most 128 rows of A: read in place by the
    // micro-kernel (Gemm.ReadsBInPlace), its ragged last panel packed; and against 129 rows, packed. One worker, and two
    // splitting the columns (each reads its own columns of B in place).
    public static IEnumerable<TestCaseData> DirectBCases()
    {
        // (64, 1100, 130): 2²³ multiply-adds or more, split by columns, A packed by both workers, the second worker's B from jc > 0.
        foreach (var (m, n, k) in new[] { (64, 100, 300), (128, 64, 40), (8, 33, 17), (3, 32, 5), (129, 70, 33), (16, 1000, 520), (64, 1100, 130) })
        {
            foreach (var aLayout in new[] { Layout.RowMajor, Layout.ColumnMajor })
            {
                foreach (var kernel in new[] { Kernel.Widest, Kernel.Vector256 })
                {
                    foreach (var threads in new[] { 1, 2 })
                    {
                        var accumulate = (m + threads + (int)aLayout) % 2 == 0;
                        yield return new TestCaseData(m, n, k, aLayout, Layout.RowMajorLines, accumulate, kernel, threads)
                            .SetArgDisplayNames($"{m}x{n}x{k}", $"A {aLayout}", "B RowMajorLines", accumulate ? "C+=" : "C=", $"{kernel}", $"{threads} thr");
                    }
                }
            }
        }
    }

    [TestCaseSource(nameof(Cases))]
    [TestCaseSource(nameof(EdgeCases))]
    [TestCaseSource(nameof(AliasedCases))]
    [TestCaseSource(nameof(DirectBCases))]
    public void FloatMatchesReference(int m, int n, int k, Layout aLayout, Layout bLayout, bool accumulate, Kernel kernel, int threads) =>
        Check<float>(m, n, k, aLayout, bLayout, accumulate, kernel, threads, FloatSentinel);

    [TestCaseSource(nameof(Cases))]
    [TestCaseSource(nameof(EdgeCases))]
    [TestCaseSource(nameof(AliasedCases))]
    [TestCaseSource(nameof(DirectBCases))]
    public void DoubleMatchesReference(int m, int n, int k, Layout aLayout, Layout bLayout, bool accumulate, Kernel kernel, int threads) =>
        Check<double>(m, n, k, aLayout, bLayout, accumulate, kernel, threads, DoubleSentinel);

    // A packed once (Gemm.Pack, a convolution's filters) and the product over it: the same paths and checks.
    [TestCaseSource(nameof(Cases))]
    [TestCaseSource(nameof(EdgeCases))]
    [TestCaseSource(nameof(DirectBCases))]
    public void FloatMatchesReference_WithAPackedBeforehand(int m, int n, int k, Layout aLayout, Layout bLayout, bool accumulate, Kernel kernel, int threads) =>
        Check<float>(m, n, k, aLayout, bLayout, accumulate, kernel, threads, FloatSentinel, prepacked: true);

    [TestCaseSource(nameof(Cases))]
    [TestCaseSource(nameof(DirectBCases))]
    public void DoubleMatchesReference_WithAPackedBeforehand(int m, int n, int k, Layout aLayout, Layout bLayout, bool accumulate, Kernel kernel, int threads) =>
        Check<double>(m, n, k, aLayout, bLayout, accumulate, kernel, threads, DoubleSentinel, prepacked: true);

    [TestCase(1024, 1, 1024, false)]   // rows 4 KiB apart, swept by 1024 columns: packed
    [TestCase(2048, 1, 4096, false)]
    [TestCase(1, 1024, 2048, false)]   // a transposed view, columns 4 KiB apart
    [TestCase(1024, 1, 512, true)]     // too few columns to pay for the copy
    [TestCase(1000, 1, 4096, true)]    // not aliased
    [TestCase(128, 1, 4096, true)]
    [TestCase(1, 384, 4096, true)]
    [TestCase(0, 1, 4096, true)]       // broadcast rows
    public void ReadsAInPlace_ExceptAnAliasedASweptByManyColumns(int rowStride, int colStride, int columns, bool expected) =>
        Assert.That(Gemm.ReadsAInPlace<float>(rowStride, colStride, columns), Is.EqualTo(expected));

    [TestCase(64, 416, 1, true)]      // c2's columns: rows 26 lines apart
    [TestCase(128, 368, 1, true)]     // 23 lines
    [TestCase(64, 784, 1, true)]      // 49 lines
    [TestCase(129, 416, 1, false)]    // enough rows of A to pay for packing B
    [TestCase(64, 128, 1, false)]     // 8 lines apart: a panel's rows crowd an eighth of the L1 sets
    [TestCase(64, 1024, 1, false)]    // 4 KiB apart
    [TestCase(64, 420, 1, false)]     // not a whole number of lines
    [TestCase(64, 416, 2, false)]     // not row-major
    [TestCase(64, 0, 1, false)]       // broadcast rows
    public void ReadsBInPlace_ARowMajorBWhoseRowsSpreadOverTheSets_AgainstFewRows(int rows, int rowStride, int colStride, bool expected) =>
        Assert.That(Gemm.ReadsBInPlace<float>(rows, rowStride, colStride), Is.EqualTo(expected));

    [Test]
    public void ReadsBInPlace_CountsBytes() =>
        Assert.That((Gemm.ReadsBInPlace<double>(64, 416, 1), Gemm.ReadsBInPlace<double>(64, 208, 1)), Is.EqualTo((false, true)));

    [Test]
    public unsafe void LineStart_IsTheFirstIndexOnALineBoundary_AtOrAfterStart()
    {
        var floats = GC.AllocateUninitializedArray<float>(100, pinned: true);
        var doubles = GC.AllocateUninitializedArray<double>(100, pinned: true);
        for (var start = 0; start < 40; start++)
        {
            var f = Gemm.LineStart(floats, start);
            var d = Gemm.LineStart(doubles, start);
            Assert.That(f, Is.InRange(start, start + Gemm.LineElements<float>() - 1));
            Assert.That(d, Is.InRange(start, start + Gemm.LineElements<double>() - 1));
            Assert.That((long)((nuint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref floats[f]) % 64), Is.EqualTo(0L));
            Assert.That((long)((nuint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref doubles[d]) % 64), Is.EqualTo(0L));
        }
    }

    [Test]
    public void ReadsAInPlace_CountsBytes() =>
        Assert.That((Gemm.ReadsAInPlace<double>(512, 1, 1024), Gemm.ReadsAInPlace<double>(256, 1, 1024)), Is.EqualTo((false, true)));

    [Test]
    public void SplitsBelowTheGrain_AStreamOfMidSizedProducts_WhenTwoThreadsAreAllowed()
    {
        var previous = Gemm.ThreadsOverride;
        var spin = Threads.Pool.SpinMicroseconds;
        try
        {
            // A budget no test run outlasts between two calls (AUTOGRAD_SPIN_US may be 0 in the environment).
            Threads.Pool.SpinMicroseconds = 10_000_000;
            Gemm.ThreadsOverride = 2;
            _ = Gemm.SplitsBelowTheGrain(1L << 21);
            Assert.That(Gemm.SplitsBelowTheGrain(1L << 21), Is.True, "the second of two products in a row");
            Assert.That(Gemm.SplitsBelowTheGrain((1L << 21) - 1), Is.False, "below 2^21 multiply-adds");
            Gemm.OneThread = true;
            Assert.That(Gemm.SplitsBelowTheGrain(1L << 22), Is.False, "on a thread that already runs one item of a spread");
            Gemm.OneThread = false;
            Gemm.ThreadsOverride = 1;
            _ = Gemm.SplitsBelowTheGrain(1L << 21);
            Assert.That(Gemm.SplitsBelowTheGrain(1L << 21), Is.False, "with one thread allowed");
        }
        finally
        {
            Gemm.OneThread = false;
            Gemm.ThreadsOverride = previous;
            Threads.Pool.SpinMicroseconds = spin;
        }
    }

    [Test]
    public void MidSizedProduct_SplitOverTwoThreads_GivesTheOneThreadBits()
    {
        // 128 × 136 × 124 (2^21 multiply-adds or more, below the grain): one thread, then twice in a row on two, the
        // second split (SplitsBelowTheGrain, which the check itself stamps as the stream's last product), with ragged panels.
        var random = new Random(5);
        var (m, n, k) = (128, 136, 124);
        var a = Enumerable.Range(0, m * k).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var b = Enumerable.Range(0, k * n).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var previous = Gemm.ThreadsOverride;
        var spin = Threads.Pool.SpinMicroseconds;
        try
        {
            Threads.Pool.SpinMicroseconds = 10_000_000;
            Gemm.ThreadsOverride = 1;
            var one = new float[m * n];
            Gemm.Multiply(m, n, k, a, 0, k, 1, b, 0, n, 1, one, 0, n, accumulate: false);
            Gemm.ThreadsOverride = 2;
            var two = new float[m * n];
            Gemm.Multiply(m, n, k, a, 0, k, 1, b, 0, n, 1, two, 0, n, accumulate: false);
            Assert.That(Gemm.SplitsBelowTheGrain((long)m * n * k), Is.True);
            Gemm.Multiply(m, n, k, a, 0, k, 1, b, 0, n, 1, two, 0, n, accumulate: false);
            Assert.That(two, Is.EqualTo(one));
        }
        finally
        {
            Gemm.ThreadsOverride = previous;
            Threads.Pool.SpinMicroseconds = spin;
        }
    }

    [Test]
    public void DirectB_OnEachWorkerOfARowSplit_WhenEachPacksItsOwnPanels()
    {
        // 200 × 96 × 440 splits by rows over two workers (100 rows each, at most 128: B read in place by both) when the
        // shared packing is off and each worker's Block would pack its own B.
        var previous = Gemm.SharedPackingDisabled;
        try
        {
            Gemm.SharedPackingDisabled = true;
            Check<float>(200, 96, 440, Layout.RowMajor, Layout.RowMajorLines, accumulate: false, Kernel.Widest, 2, FloatSentinel);
            Check<double>(200, 96, 440, Layout.ColumnMajor, Layout.RowMajorLines, accumulate: true, Kernel.Widest, 2, DoubleSentinel);
        }
        finally
        {
            Gemm.SharedPackingDisabled = previous;
        }
    }

    [Test]
    public void PackedA_GivesTheUnpackedProductsBits_AndIsReusable()
    {
        // 70 × 600: three depth slices and a ragged last panel; the packed operand serves several products.
        var random = new Random(5);
        var (m, k) = (70, 600);
        var a = Enumerable.Range(0, m * k).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        using var packed = Gemm.Pack<float>(m, k, a, 0, k, 1);
        foreach (var n in new[] { 1, 33, 224, 500 })
        {
            var b = Enumerable.Range(0, k * n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            var expected = new float[m * n];
            var actual = new float[m * n];
            Gemm.Multiply(m, n, k, a, 0, k, 1, b, 0, n, 1, expected, 0, n, accumulate: false);
            Gemm.Multiply<float>(packed, n, b, 0, n, 1, actual, 0, n, accumulate: false);
            Assert.That(actual, Is.EqualTo(expected), $"n = {n}");
        }
    }

    [Test]
    public void PackedA_RefusesAProductReachingOutsideItsArrays()
    {
        var a = new float[8 * 40];
        using var packed = Gemm.Pack<float>(8, 40, a, 0, 40, 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply<float>(packed, 30, new float[40 * 30 - 1], 0, 30, 1, new float[8 * 30], 0, 30, false));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply<float>(packed, 30, new float[40 * 30], 0, 30, 1, new float[8 * 30 - 1], 0, 30, false));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Pack<float>(8, 41, a, 0, 40, 1));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void ZeroDepthClearsOrKeepsC(bool accumulate)
    {
        const int m = 5, n = 6, cStride = 9;
        var c = Enumerable.Repeat(FloatSentinel, 2 + m * cStride).ToArray();
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < n; j++)
            {
                c[2 + i * cStride + j] = i + j + 1;
            }
        }

        // k = 0 with empty A and B arrays: nothing may be read from them.
        Gemm.Multiply(m, n, 0, [], 0, 0, 0, [], 0, 0, 0, c, 2, cStride, accumulate);

        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < cStride; j++)
            {
                var at = 2 + i * cStride + j;
                var expected = j >= n ? FloatSentinel : accumulate ? i + j + 1 : 0f;
                Assert.That(c[at], Is.EqualTo(expected), $"C[{i}, {j}]");
            }
        }

        Assert.That(c[0], Is.EqualTo(FloatSentinel));
        Assert.That(c[1], Is.EqualTo(FloatSentinel));
    }

    [Test]
    public void EmptyOutputTouchesNothing()
    {
        var c = new[] { FloatSentinel, FloatSentinel };
        Gemm.Multiply(0, 2, 3, new float[6], 0, 3, 1, new float[6], 0, 2, 1, c, 0, 2, accumulate: false);
        Gemm.Multiply(2, 0, 3, new float[6], 0, 3, 1, new float[6], 0, 2, 1, c, 0, 0, accumulate: false);
        Assert.That(c, Is.All.EqualTo(FloatSentinel));
    }

    [Test]
    public void OverwriteIgnoresNaNInC()
    {
        // accumulate: false must assign, not scale by zero: 0·NaN would leak the old contents.
        const int n = 64;
        var a = Enumerable.Range(0, n * n).Select(i => (float)(i % 7)).ToArray();
        var b = Enumerable.Range(0, n * n).Select(i => (float)(i % 5)).ToArray();
        var c = Enumerable.Repeat(float.NaN, n * n).ToArray();
        Gemm.Multiply(n, n, n, a, 0, n, 1, b, 0, n, 1, c, 0, n, accumulate: false);
        Assert.That(c, Has.None.NaN);
    }

    [Test]
    public void ViewReachingOutsideItsArrayThrows()
    {
        var a = new float[12];
        var c = new float[16];
        Assert.Throws<ArgumentOutOfRangeException>(
            () => Gemm.Multiply(4, 4, 4, a, 0, 4, 1, new float[16], 0, 4, 1, c, 0, 4, accumulate: false));
    }

    private static void Check<T>(
        int m, int n, int k, Layout aLayout, Layout bLayout, bool accumulate, Kernel kernel, int threads, T sentinel, bool prepacked = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new Random(HashCode.Combine(m, n, k, aLayout, bLayout, accumulate));
        var (a, aOffset, aRowStride, aColStride) = MakeOperand<T>(random, m, k, aLayout);
        var (b, bOffset, bRowStride, bColStride) = MakeOperand<T>(random, k, n, bLayout);

        // C is a block inside a larger buffer: a row pitch wider than n and a margin before and after,
        // all filled with a sentinel that must survive.
        const int cOffset = 5;
        var cRowStride = n + 3;
        var c = new T[cOffset + m * cRowStride + 7];
        c.AsSpan().Fill(sentinel);
        var initial = new double[m, n];
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < n; j++)
            {
                // Without accumulate C starts as NaN so any read of the old value shows.
                initial[i, j] = accumulate ? random.NextDouble() * 2 - 1 : double.NaN;
                c[cOffset + i * cRowStride + j] = T.CreateTruncating(initial[i, j]);
            }
        }

        var previousKernel = Simd.ForceVector256;
        var previousThreads = Gemm.ThreadsOverride;
        try
        {
            Simd.ForceVector256 = kernel == Kernel.Vector256;
            Gemm.ThreadsOverride = threads;
            if (prepacked)
            {
                using var packed = Gemm.Pack<T>(m, k, a, aOffset, aRowStride, aColStride);
                Gemm.Multiply(packed, n, b, bOffset, bRowStride, bColStride, c, cOffset, cRowStride, accumulate);
            }
            else
            {
                Gemm.Multiply(
                    m, n, k,
                    a, aOffset, aRowStride, aColStride,
                    b, bOffset, bRowStride, bColStride,
                    c, cOffset, cRowStride,
                    accumulate);
            }
        }
        finally
        {
            Simd.ForceVector256 = previousKernel;
            Gemm.ThreadsOverride = previousThreads;
        }

        // Dense double copies (A row-major, B column-major) keep the reference loop cheap.
        var aDense = new double[m * k];
        var bDense = new double[n * k];
        for (var p = 0; p < k; p++)
        {
            for (var i = 0; i < m; i++)
            {
                aDense[i * k + p] = double.CreateTruncating(a[aOffset + i * aRowStride + p * aColStride]);
            }

            for (var j = 0; j < n; j++)
            {
                bDense[j * k + p] = double.CreateTruncating(b[bOffset + p * bRowStride + j * bColStride]);
            }
        }

        var epsilon = Epsilon<T>();
        var failures = 0;
        for (var i = 0; i < m; i++)
        {
            var aRow = aDense.AsSpan(i * k, k);
            for (var j = 0; j < n; j++)
            {
                var bColumn = bDense.AsSpan(j * k, k);
                var expected = accumulate ? initial[i, j] : 0.0;
                var magnitude = Math.Abs(expected);
                for (var p = 0; p < aRow.Length; p++)
                {
                    var product = aRow[p] * bColumn[p];
                    expected += product;
                    magnitude += Math.Abs(product);
                }

                // Any summation order is within (k + 1)·ε·Σ|terms| of the exact result.
                var tolerance = (k + 2) * epsilon * magnitude + 1e-30;
                var actual = double.CreateTruncating(c[cOffset + i * cRowStride + j]);
                if (!(Math.Abs(actual - expected) <= tolerance) && failures++ < 5)
                {
                    Assert.Fail($"C[{i}, {j}] = {actual}, expected {expected} ± {tolerance}");
                }
            }
        }

        for (var at = 0; at < c.Length; at++)
        {
            var row = (at - cOffset) / cRowStride;
            var column = (at - cOffset) % cRowStride;
            var inside = at >= cOffset && row < m && column < n;
            if (!inside && c[at] != sentinel)
            {
                Assert.Fail($"element {at} outside the C block was overwritten with {c[at]}");
            }
        }
    }

    private static double Epsilon<T>()
        where T : unmanaged, IFloatingPointIeee754<T> =>
        typeof(T) == typeof(float) ? Math.Pow(2, -23) : Math.Pow(2, -52);

    /// <summary>Builds a rows×cols operand in the given layout inside a larger buffer with a leading offset.</summary>
    private static (T[] Data, int Offset, int RowStride, int ColStride) MakeOperand<T>(Random random, int rows, int cols, Layout layout)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int offset = 3;
        var (rowStride, colStride, span) = layout switch
        {
            Layout.RowMajor => (cols + 2, 1, rows * (cols + 2)),
            Layout.ColumnMajor => (1, rows + 1, cols * (rows + 1)),
            Layout.Strided => (2 * cols + 1, 2, rows * (2 * cols + 1)),
            Layout.BroadcastRows => (0, 1, cols),
            Layout.BroadcastColumns => (1, 0, rows),
            Layout.BroadcastScalar => (0, 0, 1),
            Layout.RowMajorAligned => (Aligned<T>(cols), 1, rows * Aligned<T>(cols)),
            Layout.ColumnMajorAligned => (1, Aligned<T>(rows), cols * Aligned<T>(rows)),
            Layout.RowMajorLines => (OddLines<T>(cols), 1, rows * OddLines<T>(cols)),
            _ => throw new ArgumentOutOfRangeException(nameof(layout)),
        };
        var data = new T[offset + span + 4];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = T.CreateTruncating(random.NextDouble() * 2 - 1);
        }

        return (data, offset, rowStride, colStride);
    }

    /// <summary>The smallest odd number of 64-byte lines (in elements) that holds <paramref name="count"/> elements.</summary>
    private static int OddLines<T>(int count)
        where T : unmanaged
    {
        var line = 64 / System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        var lines = (count + line - 1) / line;
        return (lines | 1) * line;
    }

    /// <summary>The smallest multiple of 4 KiB (in elements) that holds <paramref name="count"/> elements.</summary>
    private static int Aligned<T>(int count)
        where T : unmanaged
    {
        var page = 4096 / System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        return (count + page - 1) / page * page;
    }
}
