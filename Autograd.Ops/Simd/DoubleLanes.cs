using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Autograd.Kernels;

/// <summary>An elementwise function computed in double: one element, or four lanes (see <see cref="DoubleLanes"/>).</summary>
internal interface IDoubleLanes
{
    static abstract double Invoke(double a, double b);

    static abstract Vector256<double> Invoke(Vector256<double> a, Vector256<double> b);
}

/// <summary>
/// Rows of a function computed in double whatever T is (the special functions: erf, GELU), four lanes at a time
/// where AVX2 is there (float widened to double and rounded back once, as the scalar form does), else element by
/// element. With AVX2 a row's tail goes through the lanes too (padded), so an element's bits do not depend on
/// where the threads cut the row.
/// </summary>
internal static class DoubleLanes
{
    /// <summary>d[i] = f(a[i], b[i]); a or b of length 1 is broadcast.</summary>
    public static void Map<T, TF>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TF : IDoubleLanes
    {
        bool aOne = a.Length == 1 && d.Length > 1, bOne = b.Length == 1 && d.Length > 1;
        if (!Avx2.IsSupported)
        {
            for (var i = 0; i < d.Length; i++)
            {
                d[i] = T.CreateTruncating(TF.Invoke(double.CreateTruncating(a[aOne ? 0 : i]), double.CreateTruncating(b[bOne ? 0 : i])));
            }

            return;
        }

        var va = aOne ? Vector256.Create(double.CreateTruncating(a[0])) : default;
        var vb = bOne ? Vector256.Create(double.CreateTruncating(b[0])) : default;
        var full = d.Length & ~3;
        for (var i = 0; i < full; i += 4)
        {
            Store(TF.Invoke(aOne ? va : Load(a, i), bOne ? vb : Load(b, i)), d, i);
        }

        if (full < d.Length)
        {
            var rest = d.Length - full;
            Span<T> ta = stackalloc T[4], tb = stackalloc T[4], td = stackalloc T[4];
            ta.Clear();
            tb.Clear();
            (aOne ? a : a[full..]).CopyTo(ta);
            (bOne ? b : b[full..]).CopyTo(tb);
            Store(TF.Invoke(aOne ? va : Load<T>(ta, 0), bOne ? vb : Load<T>(tb, 0)), td, 0);
            td[..rest].CopyTo(d[full..]);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Load<T>(ReadOnlySpan<T> s, int i)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            return Avx.ConvertToVector256Double(Vector128.LoadUnsafe(ref MemoryMarshal.GetReference(MemoryMarshal.Cast<T, float>(s)), (nuint)i));
        }

        return Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(MemoryMarshal.Cast<T, double>(s)), (nuint)i);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(Vector256<double> v, Span<T> d, int i)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            Avx.ConvertToVector128Single(v).StoreUnsafe(ref MemoryMarshal.GetReference(MemoryMarshal.Cast<T, float>(d)), (nuint)i);
        }
        else
        {
            v.StoreUnsafe(ref MemoryMarshal.GetReference(MemoryMarshal.Cast<T, double>(d)), (nuint)i);
        }
    }

    /// <summary>The broadcasting driver's op for a function in double: every row form goes through <see cref="Map"/>.</summary>
    public readonly struct Binary<T, TF> : IBinaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
        where TF : IDoubleLanes
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
