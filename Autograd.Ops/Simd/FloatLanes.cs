using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Autograd.Kernels;

/// <summary>An elementwise function computed in float lanes, sixteen or eight at a time (see <see cref="FloatLanes"/>).</summary>
internal interface IFloatLanes
{
    static abstract Vector512<float> Invoke(Vector512<float> a, Vector512<float> b);

    static abstract Vector256<float> Invoke(Vector256<float> a, Vector256<float> b);
}

/// <summary>
/// Rows of a special function (GELU) whose float form is computed in float lanes and whose double form in double
/// (<see cref="DoubleLanes"/>): for float, 16 lanes where AVX-512 is there, else 8 (software 256-bit vectors where
/// there is no SIMD at all). A row's tail goes through the lanes too (padded), so an element's bits do not depend
/// on where the threads cut the row.
/// </summary>
internal static class FloatLanes
{
    /// <summary>d[i] = f(a[i], b[i]); a or b of length 1 is broadcast. Float in float lanes, double through <see cref="DoubleLanes"/>.</summary>
    public static void Map<T, TF>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TF : IFloatLanes, IDoubleLanes
    {
        if (typeof(T) != typeof(float))
        {
            DoubleLanes.Map<T, TF>(a, b, d);
            return;
        }

        var fa = MemoryMarshal.Cast<T, float>(a);
        var fb = MemoryMarshal.Cast<T, float>(b);
        var fd = MemoryMarshal.Cast<T, float>(d);
        if (Simd.Width<float>() == VectorWidth.Vector512)
        {
            Map512<TF>(fa, fb, fd);
        }
        else
        {
            Map256<TF>(fa, fb, fd);
        }
    }

    private static void Map512<TF>(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> d)
        where TF : IFloatLanes
    {
        const int n = 16;
        bool aOne = a.Length == 1 && d.Length > 1, bOne = b.Length == 1 && d.Length > 1;
        var va = aOne ? Vector512.Create(a[0]) : default;
        var vb = bOne ? Vector512.Create(b[0]) : default;
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rb = ref MemoryMarshal.GetReference(b);
        ref var rd = ref MemoryMarshal.GetReference(d);
        var full = d.Length & ~(n - 1);
        for (var i = 0; i < full; i += n)
        {
            TF.Invoke(aOne ? va : Vector512.LoadUnsafe(ref ra, (nuint)i), bOne ? vb : Vector512.LoadUnsafe(ref rb, (nuint)i)).StoreUnsafe(ref rd, (nuint)i);
        }

        if (full < d.Length)
        {
            Span<float> ta = stackalloc float[n], tb = stackalloc float[n], td = stackalloc float[n];
            Tail(a, aOne, full, ta);
            Tail(b, bOne, full, tb);
            TF.Invoke(aOne ? va : Vector512.Create((ReadOnlySpan<float>)ta), bOne ? vb : Vector512.Create((ReadOnlySpan<float>)tb)).CopyTo(td);
            td[..(d.Length - full)].CopyTo(d[full..]);
        }
    }

    private static void Map256<TF>(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> d)
        where TF : IFloatLanes
    {
        const int n = 8;
        bool aOne = a.Length == 1 && d.Length > 1, bOne = b.Length == 1 && d.Length > 1;
        var va = aOne ? Vector256.Create(a[0]) : default;
        var vb = bOne ? Vector256.Create(b[0]) : default;
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rb = ref MemoryMarshal.GetReference(b);
        ref var rd = ref MemoryMarshal.GetReference(d);
        var full = d.Length & ~(n - 1);
        for (var i = 0; i < full; i += n)
        {
            TF.Invoke(aOne ? va : Vector256.LoadUnsafe(ref ra, (nuint)i), bOne ? vb : Vector256.LoadUnsafe(ref rb, (nuint)i)).StoreUnsafe(ref rd, (nuint)i);
        }

        if (full < d.Length)
        {
            Span<float> ta = stackalloc float[n], tb = stackalloc float[n], td = stackalloc float[n];
            Tail(a, aOne, full, ta);
            Tail(b, bOne, full, tb);
            TF.Invoke(aOne ? va : Vector256.Create((ReadOnlySpan<float>)ta), bOne ? vb : Vector256.Create((ReadOnlySpan<float>)tb)).CopyTo(td);
            td[..(d.Length - full)].CopyTo(d[full..]);
        }
    }

    /// <summary>The row's elements from <paramref name="full"/> on, zero-padded to a vector (nothing for a broadcast operand).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tail(ReadOnlySpan<float> s, bool one, int full, Span<float> padded)
    {
        padded.Clear();
        if (!one)
        {
            s[full..].CopyTo(padded);
        }
    }

    /// <summary>The broadcasting driver's op for such a function: every row form goes through <see cref="Map"/>.</summary>
    public readonly struct Binary<T, TF> : IBinaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
        where TF : IFloatLanes, IDoubleLanes
    {
        public static T Invoke(T x, T y)
        {
            Span<T> d = stackalloc T[1];
            Map<T, TF>([x], [y], d);
            return d[0];
        }

        public static void Row(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> destination) => Map<T, TF>(x, y, destination);

        public static void Row(ReadOnlySpan<T> x, T y, Span<T> destination) => Map<T, TF>(x, [y], destination);

        public static void Row(T x, ReadOnlySpan<T> y, Span<T> destination) => Map<T, TF>([x], y, destination);
    }
}
