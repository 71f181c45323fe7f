using System.Numerics;
using System.Runtime.Intrinsics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd.Kernels;

/// <summary>An elementwise binary operation: a scalar form and the three SIMD row forms.</summary>
internal interface IBinaryOp<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    static abstract T Invoke(T x, T y);

    /// <summary>Work per element in units of a copy's (<see cref="Elementwise.Cost"/>): sets the size from which the op goes parallel.</summary>
    static virtual int Cost => Elementwise.Cost.Copy;

    static abstract void Row(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> destination);

    static abstract void Row(ReadOnlySpan<T> x, T y, Span<T> destination);

    static abstract void Row(T x, ReadOnlySpan<T> y, Span<T> destination);
}

/// <summary>An elementwise unary operation over a contiguous row.</summary>
internal interface IUnaryOp<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Work per element in units of a copy's (<see cref="Elementwise.Cost"/>): sets the size from which the op goes parallel.</summary>
    static virtual int Cost => Elementwise.Cost.Copy;

    static abstract void Row(ReadOnlySpan<T> x, Span<T> destination);
}

/// <summary>A binary function of two elements, for ops with no SIMD form (see <see cref="ScalarLoop{T, TFunc}"/>).</summary>
internal interface IScalarBinary<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    static abstract T Invoke(T x, T y);
}

/// <summary>The binary op of a scalar function: its three row forms are plain loops over <c>TFunc.Invoke</c>.</summary>
internal readonly struct ScalarLoop<T, TFunc> : IBinaryOp<T>
    where T : unmanaged, IFloatingPointIeee754<T>
    where TFunc : IScalarBinary<T>
{
    public static T Invoke(T x, T y) => TFunc.Invoke(x, y);

    public static void Row(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d)
    {
        for (var i = 0; i < d.Length; i++)
        {
            d[i] = TFunc.Invoke(x[i], y[i]);
        }
    }

    public static void Row(ReadOnlySpan<T> x, T y, Span<T> d)
    {
        for (var i = 0; i < d.Length; i++)
        {
            d[i] = TFunc.Invoke(x[i], y);
        }
    }

    public static void Row(T x, ReadOnlySpan<T> y, Span<T> d)
    {
        for (var i = 0; i < d.Length; i++)
        {
            d[i] = TFunc.Invoke(x, y[i]);
        }
    }
}

internal readonly struct AddOp<T> : IBinaryOp<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Invoke(T x, T y) => x + y;

    public static void Row(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d) => TP.Add(x, y, d);

    public static void Row(ReadOnlySpan<T> x, T y, Span<T> d) => TP.Add(x, y, d);

    public static void Row(T x, ReadOnlySpan<T> y, Span<T> d) => TP.Add(y, x, d);
}

internal readonly struct SubtractOp<T> : IBinaryOp<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Invoke(T x, T y) => x - y;

    public static void Row(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d) => TP.Subtract(x, y, d);

    public static void Row(ReadOnlySpan<T> x, T y, Span<T> d) => TP.Subtract(x, y, d);

    public static void Row(T x, ReadOnlySpan<T> y, Span<T> d) => TP.Subtract(x, y, d);
}

internal readonly struct MultiplyOp<T> : IBinaryOp<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Invoke(T x, T y) => x * y;

    public static void Row(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d) => TP.Multiply(x, y, d);

    public static void Row(ReadOnlySpan<T> x, T y, Span<T> d) => TP.Multiply(x, y, d);

    public static void Row(T x, ReadOnlySpan<T> y, Span<T> d) => TP.Multiply(y, x, d);
}

internal readonly struct DivideOp<T> : IBinaryOp<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Invoke(T x, T y) => x / y;

    public static void Row(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d) => TP.Divide(x, y, d);

    public static void Row(ReadOnlySpan<T> x, T y, Span<T> d) => TP.Divide(x, y, d);

    public static void Row(T x, ReadOnlySpan<T> y, Span<T> d) => TP.Divide(x, y, d);
}

/// <summary>
/// Drivers for elementwise ops: broadcast the operands to the result shape (stride 0 where a size is
/// 1), then walk rows with <see cref="RowCursor"/> and hand each row to the op's SIMD form. Results
/// come from the buffer pool. Contiguous operands of at least <see cref="ParallelThreshold"/> elements
/// are split into one range per thread: a memory-bound pass is worth a hand-off (~5 µs) only when it
/// takes much longer than that, and one core does not saturate the memory bus.
/// </summary>
internal static class Elementwise
{
    /// <summary>
    /// Elements (2 MiB of floats) from which a contiguous elementwise pass is split over threads: a
    /// memory-bound pass over fewer takes under ~100 µs on one core, and waking a pool thread (5–50 µs,
    /// more when the other core is busy and the worker is preempted after claiming its range) would eat
    /// most of the gain. LeNet's activations (at most 301,056 elements at batch 64) stay on the calling thread.
    /// </summary>
    internal const int ParallelThreshold = 1 << 19;

    /// <summary>How many ranges a pass over <paramref name="n"/> contiguous elements is split into (1: on the calling thread).</summary>
    internal static int Chunks(long n) => Chunks(n, Cost.Copy);

    /// <summary>
    /// How many ranges a pass over <paramref name="n"/> contiguous elements costing <paramref name="cost"/>
    /// copies each is split into: the threshold is on the work, n·cost, so an op that computes a
    /// transcendental function per element goes parallel at a fraction of a copy's size. Any cut gives the
    /// same bits for an elementwise op, so this decides speed only.
    /// </summary>
    internal static int Chunks(long n, int cost)
    {
        if (ForceChunks > 0)
        {
            return (int)Math.Max(1, Math.Min(ForceChunks, n));
        }

        var work = n * cost;
        return work < ParallelThreshold ? 1 : (int)Math.Clamp(work / (ParallelThreshold / 2), 1, Gemm.MaxThreads);
    }

    /// <summary>Passes cut over threads so far (the tests' view of which ops went parallel at which size).</summary>
    internal static long ParallelPasses => Volatile.Read(ref s_parallelPasses);

    private static long s_parallelPasses;

    /// <summary>Counts a pass that is cut over threads (<see cref="ParallelPasses"/>).</summary>
    internal static void CountParallelPass() => Interlocked.Increment(ref s_parallelPasses);

    /// <summary>When positive, every contiguous pass is cut into this many ranges whatever its size (benchmarks measure the crossover with it).</summary>
    internal static int ForceChunks { get; set; }

    /// <summary>
    /// Work per element of the op kinds, in units of a memory-bound pass's (a copy, an add, relu: 0.16–0.19 ns
    /// per float on one core of the reference machine, operands in L2/L3): the one-thread processor time per
    /// element over that of add (`smallops --cost` in Autograd.Benchmarks, docs/performance.md), rounded
    /// down. A pass goes parallel from <see cref="ParallelThreshold"/> / cost elements, i.e. at the same
    /// one-thread time (~80 µs) whatever the op, where a copy's hand-off pays.
    /// </summary>
    internal static class Cost
    {
        /// <summary>Loads, an add, a multiply or a compare, a store: bound by memory.</summary>
        public const int Copy = 1;

        /// <summary>exp, log, pow in TensorPrimitives' vector forms (0.6–0.7 ns per float).</summary>
        public const int Transcendental = 4;

        /// <summary>tanh, sigmoid and the float-lane rational functions (GELU's erf): 0.8–1.0 ns per float.</summary>
        public const int Rational = 5;

        /// <summary>A softmax row of the GPT's 64–65 classes: max, subtract, exp, sum, subtract (2.3–2.6 ns per float).</summary>
        public const int SoftmaxRow = 14;

        /// <summary>Functions evaluated in double lane by lane (erf's Taylor table: 6.5 ns per float) or element by element (softplus).</summary>
        public const int Special = 32;
    }

    /// <summary>
    /// op(x, s), or op(s, x) when <paramref name="scalarFirst"/>, for a C# scalar s: the result of
    /// <see cref="Binary{T, TOp}"/> with s as a rank-0 tensor, element for element, without making that
    /// tensor when x is contiguous and small enough for the calling thread.
    /// </summary>
    public static Tensor<T> WithScalar<T, TOp>(Tensor<T> x, T s, bool scalarFirst, string opName)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : IBinaryOp<T>
    {
        var n = x.Numel;
        if (!x.IsContiguous || Chunks(n, TOp.Cost) != 1)
        {
            var scalar = Tensor.Scalar(s);
            return scalarFirst ? Binary<T, TOp>(scalar, x, opName) : Binary<T, TOp>(x, scalar, opName);
        }

        var result = Tensor<T>.UninitializedLike(x);
        using var xr = x.Read();
        using var rw = result.Write();
        var source = xr.Span.Slice(xr.Offset, n);
        if (scalarFirst)
        {
            TOp.Row(s, source, rw.Span);
        }
        else
        {
            TOp.Row(source, s, rw.Span);
        }

        return result;
    }

    public static Tensor<T> Binary<T, TOp>(Tensor<T> a, Tensor<T> b, string opName)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : IBinaryOp<T>
    {
        if (a.IsContiguous && b.IsContiguous && TryContiguous<T, TOp>(a, b, out var fast))
        {
            return fast;
        }

        var shape = ShapeMath.Broadcast(a.ShapeArray, b.ShapeArray, opName);
        ShapeMath.Numel(shape, opName);
        var result = Tensor<T>.Uninitialized(shape);
        BinaryInto<T, TOp>(result, a, b, opName);
        return result;
    }

    /// <summary>
    /// destination = op(a, b) elementwise, a and b broadcast to the destination's shape; the destination
    /// may be any non-overlapping view, and may be a itself (in-place ops: every element is read before
    /// it is written, row by row).
    /// </summary>
    public static void BinaryInto<T, TOp>(Tensor<T> destination, Tensor<T> a, Tensor<T> b, string opName)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : IBinaryOp<T>
    {
        var shape = destination.ShapeArray;
        var sa = a.BroadcastStridesTo(shape, opName);
        var sb = b.BroadcastStridesTo(shape, opName);
        using var ar = a.Read();
        using var br = b.Read();
        using var dw = destination.Write();
        var x = ar.Span;
        var y = br.Span;
        var d = dw.Span;
        var c = new RowCursor(shape, destination.StridesArray, destination.Offset, sa, a.Offset, sb, b.Offset);
        var len = c.Length;
        while (c.MoveNext())
        {
            if (c.Inner0 != 1)
            {
                int i0 = c.Offset0, i1 = c.Offset1, i2 = c.Offset2;
                for (var i = 0; i < len; i++, i0 += c.Inner0, i1 += c.Inner1, i2 += c.Inner2)
                {
                    d[i0] = TOp.Invoke(x[i1], y[i2]);
                }

                continue;
            }

            var dst = d.Slice(c.Offset0, len);
            if (c.Inner1 == 1 && c.Inner2 == 1)
            {
                TOp.Row(x.Slice(c.Offset1, len), y.Slice(c.Offset2, len), dst);
            }
            else if (c.Inner1 == 1 && c.Inner2 == 0)
            {
                TOp.Row(x.Slice(c.Offset1, len), y[c.Offset2], dst);
            }
            else if (c.Inner1 == 0 && c.Inner2 == 1)
            {
                TOp.Row(x[c.Offset1], y.Slice(c.Offset2, len), dst);
            }
            else
            {
                int i1 = c.Offset1, i2 = c.Offset2;
                for (var i = 0; i < len; i++, i1 += c.Inner1, i2 += c.Inner2)
                {
                    dst[i] = TOp.Invoke(x[i1], y[i2]);
                }
            }
        }
    }

    /// <summary>
    /// The common cases without the broadcasting machinery: equal shapes, or one operand a single
    /// element of no higher rank than the other (a scalar). One SIMD call per range, no stride arrays.
    /// </summary>
    private static bool TryContiguous<T, TOp>(Tensor<T> a, Tensor<T> b, out Tensor<T> result)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : IBinaryOp<T>
    {
        var na = a.Numel;
        var nb = b.Numel;
        int[] shape;
        if (ShapeMath.SameShape(a.ShapeArray, b.ShapeArray))
        {
            shape = a.ShapeArray;
        }
        else if (nb == 1 && b.Rank <= a.Rank)
        {
            shape = a.ShapeArray;
        }
        else if (na == 1 && a.Rank <= b.Rank)
        {
            shape = b.ShapeArray;
        }
        else
        {
            result = null!;
            return false;
        }

        // The result has the numel of the operand whose shape it takes (an empty tensor times a scalar is empty).
        // Shape and strides arrays are never written after construction, so the result shares the operand's.
        var n = ReferenceEquals(shape, a.ShapeArray) ? na : nb;
        result = Tensor<T>.UninitializedLike(ReferenceEquals(shape, a.ShapeArray) ? a : b);
        if (n == 0)
        {
            return true;
        }

        var chunks = Chunks(n, TOp.Cost);
        if (chunks == 1)
        {
            using var ar = a.Read();
            using var br = b.Read();
            using var rw = result.Write();
            Range<T, TOp>(ar.Span.Slice(ar.Offset, na), br.Span.Slice(br.Offset, nb), rw.Span);
            return true;
        }

        ParallelRanges<T, TOp>(a, b, result, n, chunks);
        return true;
    }

    /// <summary>
    /// The threaded form of <see cref="TryContiguous"/>, apart so that its closure is allocated only when
    /// it runs (a lambda's captured locals are allocated on entry to the method that declares them).
    /// </summary>
    private static void ParallelRanges<T, TOp>(Tensor<T> a, Tensor<T> b, Tensor<T> result, int n, int chunks)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : IBinaryOp<T>
    {
        var (na, nb) = (a.Numel, b.Numel);
        using var ar = a.Read();
        using var br = b.Read();
        using var rw = result.Write();
        var xm = ar.Memory.Slice(ar.Offset, na);
        var ym = br.Memory.Slice(br.Offset, nb);
        var dm = rw.Memory;
        CountParallelPass();
        Threads.ForRanges(n, chunks, (start, end) =>
        {
            // A scalar operand stays whole; the others are cut to the range.
            var x = na == 1 ? xm.Span : xm.Span[start..end];
            var y = nb == 1 ? ym.Span : ym.Span[start..end];
            Range<T, TOp>(x, y, dm.Span[start..end]);
        });
    }

    /// <summary>d = op(x, y) where each of x and y is as long as d or a single element.</summary>
    private static void Range<T, TOp>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : IBinaryOp<T>
    {
        if (x.Length == d.Length && y.Length == d.Length)
        {
            TOp.Row(x, y, d);
        }
        else if (y.Length == 1)
        {
            TOp.Row(x, y[0], d);
        }
        else
        {
            TOp.Row(x[0], y, d);
        }
    }

    public static Tensor<T> Unary<T, TOp>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : IUnaryOp<T>
        => Unary<T>(x, static (s, d) => TOp.Row(s, d), TOp.Cost);

    /// <summary>
    /// A pooled result = row(x), row being an elementwise function of contiguous spans (so any cut of
    /// the range gives the same elements): split into one range per thread above the threshold.
    /// </summary>
    public static Tensor<T> Unary<T>(Tensor<T> x, ElementwiseOp.RowFunc<T> row, int cost = Cost.Copy)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var n = x.Numel;
        var result = Tensor<T>.UninitializedLike(x);
        if (n == 0)
        {
            // Some TensorPrimitives kernels (Sigmoid) reject empty spans; an empty result has nothing to compute.
            return result;
        }

        var chunks = x.IsContiguous ? Chunks(n, cost) : 1;
        if (chunks == 1)
        {
            using var xr = x.Read();
            using var rw = result.Write();
            row(xr.ContiguousElements, rw.Span[..n]);
            return result;
        }

        ParallelRows(x, result, n, chunks, row);
        return result;
    }

    /// <summary>The threaded form of <see cref="Unary{T}(Tensor{T}, ElementwiseOp.RowFunc{T}, int)"/>, apart so that its closure is allocated only when it runs.</summary>
    private static void ParallelRows<T>(Tensor<T> x, Tensor<T> result, int n, int chunks, ElementwiseOp.RowFunc<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var xr = x.Read();
        using var rw = result.Write();
        var xm = xr.Memory.Slice(xr.Offset, n);
        var dm = rw.Memory;
        CountParallelPass();
        Threads.ForRanges(n, chunks, (start, end) => row(xm.Span[start..end], dm.Span[start..end]));
    }

    /// <summary>True when every element of <paramref name="x"/> is the same storage element (all strides 0: an expanded scalar).</summary>
    public static bool IsBroadcastScalar<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var s in x.StridesArray)
        {
            if (s != 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// destination = y &gt; 0 ? g : 0 elementwise (relu's VJP with y its output), in one pass split over
    /// threads above the threshold. y and destination are contiguous; g is contiguous or a broadcast
    /// scalar (<see cref="IsBroadcastScalar{T}"/>), read as one value.
    /// </summary>
    public static void MaskPositive<T>(Tensor<T> y, Tensor<T> g, Tensor<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var n = y.Numel;
        var scalar = IsBroadcastScalar(g);
        using var yr = y.Read();
        using var gr = g.Read();
        using var dw = destination.Write();
        var ym = yr.Memory.Slice(yr.Offset, n);
        var gm = gr.Memory.Slice(gr.Offset, scalar ? Math.Min(1, n) : n);
        var dm = dw.Memory.Slice(dw.Offset, n);
        Threads.ForRanges(n, Chunks(n), (start, end) =>
            MaskKernel.MaskPositive<T>(ym.Span[start..end], scalar ? gm.Span : gm.Span[start..end], dm.Span[start..end], MaskKernel.Streams<T>(end - start)));
    }
}
