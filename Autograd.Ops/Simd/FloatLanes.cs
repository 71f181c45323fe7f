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
            MapAt<Lanes512<float>, Vector512<float>, TF>(fa, fb, fd);
        }
        else
        {
            MapAt<Lanes256<float>, Vector256<float>, TF>(fa, fb, fd);
        }
    }

    /// <summary>One width's loop: whole vectors, then the zero-padded tail through the same lanes.</summary>
    private static void MapAt<TL, TV, TF>(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> d)
        where TL : ILanes<float, TV>
        where TV : struct
        where TF : IFloatLanes
    {
        var n = TL.Count;
        bool aOne = a.Length == 1 && d.Length > 1, bOne = b.Length == 1 && d.Length > 1;
        var va = aOne ? TL.Splat(a[0]) : default;
        var vb = bOne ? TL.Splat(b[0]) : default;
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rb = ref MemoryMarshal.GetReference(b);
        ref var rd = ref MemoryMarshal.GetReference(d);
        var full = d.Length & ~(n - 1);
        var i = 0;

        // Two vectors a step: the special functions are long dependency chains (erf's two polynomials and a
        // division), and two independent ones in flight keep the vector units busy where one waits on latency.
        for (; i + 2 * n <= full; i += 2 * n)
        {
            var r0 = Invoke<TV, TF>(aOne ? va : TL.Load(ref Unsafe.Add(ref ra, i)), bOne ? vb : TL.Load(ref Unsafe.Add(ref rb, i)));
            var r1 = Invoke<TV, TF>(aOne ? va : TL.Load(ref Unsafe.Add(ref ra, i + n)), bOne ? vb : TL.Load(ref Unsafe.Add(ref rb, i + n)));
            TL.Store(r0, ref Unsafe.Add(ref rd, i));
            TL.Store(r1, ref Unsafe.Add(ref rd, i + n));
        }

        for (; i < full; i += n)
        {
            TL.Store(Invoke<TV, TF>(aOne ? va : TL.Load(ref Unsafe.Add(ref ra, i)), bOne ? vb : TL.Load(ref Unsafe.Add(ref rb, i))), ref Unsafe.Add(ref rd, i));
        }

        if (full < d.Length)
        {
            Span<float> ta = stackalloc float[n], tb = stackalloc float[n], td = stackalloc float[n];
            Tail(a, aOne, full, ta);
            Tail(b, bOne, full, tb);
            TL.Store(Invoke<TV, TF>(aOne ? va : TL.Load(ref ta[0]), bOne ? vb : TL.Load(ref tb[0])), ref td[0]);
            td[..(d.Length - full)].CopyTo(d[full..]);
        }
    }

    /// <summary>TF's function at TV's width (the JIT keeps the one branch of each instantiation).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Invoke<TV, TF>(TV a, TV b)
        where TV : struct
        where TF : IFloatLanes
        => typeof(TV) == typeof(Vector512<float>)
            ? Unsafe.BitCast<Vector512<float>, TV>(TF.Invoke(Unsafe.BitCast<TV, Vector512<float>>(a), Unsafe.BitCast<TV, Vector512<float>>(b)))
            : Unsafe.BitCast<Vector256<float>, TV>(TF.Invoke(Unsafe.BitCast<TV, Vector256<float>>(a), Unsafe.BitCast<TV, Vector256<float>>(b)));

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
        /// <summary>The float-lane functions are rational or special (GELU's gradient: erf and exp, ~1.2 ns per float).</summary>
        public static int Cost => Elementwise.Cost.Rational;

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
