using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Autograd.Kernels;

/// <summary>The vector width a kernel runs at: 512 or 256 bits, or none (its scalar loop).</summary>
internal enum VectorWidth
{
    None,
    Vector256,
    Vector512,
}

/// <summary>
/// The one place the kernels decide their vector width (<see cref="Width{T}"/>), and the switch that makes
/// them take the 256-bit paths on an AVX-512 machine too.
/// </summary>
internal static class Simd
{
    /// <summary>
    /// Test hook: when set, the kernels skip their AVX-512 paths and run the 256-bit ones (those of machines
    /// without AVX-512), so that both can be exercised on this machine.
    /// </summary>
    internal static bool ForceVector256 { get; set; }

    /// <summary>
    /// 512 bits where 512-bit vectors of T are accelerated (unless <see cref="ForceVector256"/>), else 256 bits
    /// where those are, else none.
    /// </summary>
    internal static VectorWidth Width<T>()
        where T : unmanaged =>
        Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported && !ForceVector256 ? VectorWidth.Vector512
        : Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported ? VectorWidth.Vector256
        : VectorWidth.None;

    /// <summary>
    /// Σ x in an order fixed by the length alone (Vector&lt;T&gt; lanes from index 0, the lanes summed, then the
    /// tail), whatever the span's address: TensorPrimitives.Sum aligns its loop to the address, so its bits can
    /// differ between two copies of the same row (a scratch on the caller's stack and one on a worker's).
    /// </summary>
    internal static T Sum<T>(ReadOnlySpan<T> x)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var acc = System.Numerics.Vector<T>.Zero;
        var i = 0;
        for (; i + System.Numerics.Vector<T>.Count <= x.Length; i += System.Numerics.Vector<T>.Count)
        {
            acc += new System.Numerics.Vector<T>(x[i..]);
        }

        var sum = System.Numerics.Vector.Sum(acc);
        for (; i < x.Length; i++)
        {
            sum += x[i];
        }

        return sum;
    }
}

/// <summary>
/// The vector operations of the kernels, for one width of vector <typeparamref name="TV"/> of T (float or
/// double): the kernels are written once, generic over an implementation (<see cref="Lanes512{T}"/>,
/// <see cref="Lanes256{T}"/>, <see cref="Lanes128{T}"/>), and the JIT compiles each instantiation with the
/// calls devirtualised and inlined, as if written with that width's intrinsics.
/// </summary>
internal interface ILanes<T, TV>
    where T : unmanaged
    where TV : struct
{
    static abstract int Count { get; }

    static abstract TV Zero { get; }

    static abstract TV AllBits { get; }

    static abstract TV Load(ref T at);

    static abstract void Store(TV v, ref T at);

    static abstract TV Splat(T x);

    /// <summary>x·y + addend, fused.</summary>
    static abstract TV Fma(TV x, TV y, TV addend);

    static abstract TV Add(TV x, TV y);

    static abstract TV And(TV x, TV y);

    static abstract T Sum(TV v);
}

/// <summary>
/// What the 2×2 stride-2 max-pool kernels need beyond <see cref="ILanes{T, TV}"/>: even/odd column splits and
/// their inverse, and the running max with its tap numbers kept in the 32-bit lanes of <typeparamref name="TI"/>.
/// Float only (a tap vector has one lane per element of a float vector).
/// </summary>
internal interface IMaxPoolLanes<T, TV, TI> : ILanes<T, TV>
    where T : unmanaged
    where TV : struct
    where TI : struct
{
    /// <summary>2·Count elements from <paramref name="at"/> as their even and odd columns.</summary>
    static abstract (TV Even, TV Odd) Split(ref T at);

    /// <summary>[e0 o0 e1 o1 …] stored at <paramref name="at"/> (2·Count elements).</summary>
    static abstract void Interleave(TV even, TV odd, ref T at);

    /// <summary>Where v is strictly greater than m, or NaN: m = v, t = tap.</summary>
    static abstract void Take(ref TV m, ref TI t, TV v, int tap);

    /// <summary>g where t = tap, else 0.</summary>
    static abstract TV Where(TI t, int tap, TV g);

    static abstract TI Taps(int tap);

    static abstract TI LoadTaps(ReadOnlySpan<byte> taps);

    static abstract void StoreTaps(TI t, Span<byte> taps);
}

/// <summary>512-bit vectors (AVX-512).</summary>
internal readonly struct Lanes512<T> : ILanes<T, Vector512<T>>
    where T : unmanaged
{
    public static int Count => Vector512<T>.Count;

    public static Vector512<T> Zero => Vector512<T>.Zero;

    public static Vector512<T> AllBits => Vector512<T>.AllBitsSet;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Load(ref T at) => Vector512.LoadUnsafe(ref at);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<T> v, ref T at) => v.StoreUnsafe(ref at);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Splat(T x) => Vector512.Create(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Fma(Vector512<T> x, Vector512<T> y, Vector512<T> addend) =>
        typeof(T) == typeof(float)
            ? Vector512.FusedMultiplyAdd(x.AsSingle(), y.AsSingle(), addend.AsSingle()).As<float, T>()
            : Vector512.FusedMultiplyAdd(x.AsDouble(), y.AsDouble(), addend.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Add(Vector512<T> x, Vector512<T> y) => x + y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> And(Vector512<T> x, Vector512<T> y) => x & y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Sum(Vector512<T> v) => Vector512.Sum(v);
}

/// <summary>256-bit vectors (AVX2); for float also the 2×2 max-pool's operations, 8 windows at a time.</summary>
internal readonly struct Lanes256<T> : IMaxPoolLanes<T, Vector256<T>, Vector256<int>>
    where T : unmanaged
{
    public static int Count => Vector256<T>.Count;

    public static Vector256<T> Zero => Vector256<T>.Zero;

    public static Vector256<T> AllBits => Vector256<T>.AllBitsSet;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Load(ref T at) => Vector256.LoadUnsafe(ref at);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<T> v, ref T at) => v.StoreUnsafe(ref at);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Splat(T x) => Vector256.Create(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Fma(Vector256<T> x, Vector256<T> y, Vector256<T> addend) =>
        typeof(T) == typeof(float)
            ? Vector256.FusedMultiplyAdd(x.AsSingle(), y.AsSingle(), addend.AsSingle()).As<float, T>()
            : Vector256.FusedMultiplyAdd(x.AsDouble(), y.AsDouble(), addend.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Add(Vector256<T> x, Vector256<T> y) => x + y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> And(Vector256<T> x, Vector256<T> y) => x & y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Sum(Vector256<T> v) => Vector256.Sum(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector256<T> Even, Vector256<T> Odd) Split(ref T at)
    {
        Debug.Assert(typeof(T) == typeof(float), "float only");
        ref var f = ref Unsafe.As<T, float>(ref at);

        // [a0 a2 a4 a6 | a1 a3 a5 a7] and the same of the next eight, then the halves paired up.
        var pa = Vector256.Shuffle(Vector256.LoadUnsafe(ref f), Vector256.Create(0, 2, 4, 6, 1, 3, 5, 7));
        var pb = Vector256.Shuffle(Vector256.LoadUnsafe(ref f, 8), Vector256.Create(0, 2, 4, 6, 1, 3, 5, 7));
        return (Vector256.Create(pa.GetLower(), pb.GetLower()).As<float, T>(), Vector256.Create(pa.GetUpper(), pb.GetUpper()).As<float, T>());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Interleave(Vector256<T> even, Vector256<T> odd, ref T at)
    {
        Debug.Assert(typeof(T) == typeof(float), "float only");
        ref var f = ref Unsafe.As<T, float>(ref at);
        var (e, o) = (even.AsSingle(), odd.AsSingle());

        // The lower halves paired then spread, the upper halves likewise.
        Vector256.Shuffle(Vector256.Create(e.GetLower(), o.GetLower()), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).StoreUnsafe(ref f);
        Vector256.Shuffle(Vector256.Create(e.GetUpper(), o.GetUpper()), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).StoreUnsafe(ref f, 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Take(ref Vector256<T> m, ref Vector256<int> t, Vector256<T> v, int tap)
    {
        var take = Vector256.GreaterThan(v, m) | ~Vector256.Equals(v, v);
        m = Vector256.ConditionalSelect(take, v, m);
        t = Vector256.ConditionalSelect(take.AsInt32(), Vector256.Create(tap), t);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Where(Vector256<int> t, int tap, Vector256<T> g) =>
        Vector256.ConditionalSelect(Vector256.Equals(t, Vector256.Create(tap)).As<int, T>(), g, Vector256<T>.Zero);

    public static Vector256<int> Taps(int tap) => Vector256.Create(tap);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> LoadTaps(ReadOnlySpan<byte> taps)
    {
        var bytes = Vector128.WidenLower(Vector128.CreateScalar(MemoryMarshal.Read<ulong>(taps)).AsByte());
        return Vector256.Create(Vector128.WidenLower(bytes), Vector128.WidenUpper(bytes)).AsInt32();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreTaps(Vector256<int> t, Span<byte> taps)
    {
        // Tap numbers are 0–3: narrowing keeps them.
        var bytes = Vector128.Narrow(Vector128.Narrow(t.GetLower(), t.GetUpper()), Vector128<short>.Zero).AsByte();
        MemoryMarshal.Write(taps, bytes.AsUInt64().ToScalar());
    }
}

/// <summary>128-bit vectors: the 2×2 max-pool's rows of 4 to 7 windows (float), 4 at a time.</summary>
internal readonly struct Lanes128<T> : IMaxPoolLanes<T, Vector128<T>, Vector128<int>>
    where T : unmanaged
{
    public static int Count => Vector128<T>.Count;

    public static Vector128<T> Zero => Vector128<T>.Zero;

    public static Vector128<T> AllBits => Vector128<T>.AllBitsSet;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Load(ref T at) => Vector128.LoadUnsafe(ref at);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<T> v, ref T at) => v.StoreUnsafe(ref at);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Splat(T x) => Vector128.Create(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Fma(Vector128<T> x, Vector128<T> y, Vector128<T> addend) =>
        typeof(T) == typeof(float)
            ? Vector128.FusedMultiplyAdd(x.AsSingle(), y.AsSingle(), addend.AsSingle()).As<float, T>()
            : Vector128.FusedMultiplyAdd(x.AsDouble(), y.AsDouble(), addend.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Add(Vector128<T> x, Vector128<T> y) => x + y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> And(Vector128<T> x, Vector128<T> y) => x & y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Sum(Vector128<T> v) => Vector128.Sum(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector128<T> Even, Vector128<T> Odd) Split(ref T at)
    {
        Debug.Assert(typeof(T) == typeof(float), "float only");
        ref var f = ref Unsafe.As<T, float>(ref at);
        var a = Vector128.LoadUnsafe(ref f);
        var b = Vector128.LoadUnsafe(ref f, 4);
        if (Sse.IsSupported)
        {
            // shufps picks two lanes of each: [a0 a2 b0 b2] and [a1 a3 b1 b3].
            return (Sse.Shuffle(a, b, 0b10_00_10_00).As<float, T>(), Sse.Shuffle(a, b, 0b11_01_11_01).As<float, T>());
        }

        return (Vector128.Create(a[0], a[2], b[0], b[2]).As<float, T>(), Vector128.Create(a[1], a[3], b[1], b[3]).As<float, T>());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Interleave(Vector128<T> even, Vector128<T> odd, ref T at)
    {
        Debug.Assert(typeof(T) == typeof(float), "float only");
        ref var f = ref Unsafe.As<T, float>(ref at);
        var (e, o) = (even.AsSingle(), odd.AsSingle());
        if (Sse.IsSupported)
        {
            Sse.UnpackLow(e, o).StoreUnsafe(ref f);
            Sse.UnpackHigh(e, o).StoreUnsafe(ref f, 4);
            return;
        }

        Vector128.Create(e[0], o[0], e[1], o[1]).StoreUnsafe(ref f);
        Vector128.Create(e[2], o[2], e[3], o[3]).StoreUnsafe(ref f, 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Take(ref Vector128<T> m, ref Vector128<int> t, Vector128<T> v, int tap)
    {
        var take = Vector128.GreaterThan(v, m) | ~Vector128.Equals(v, v);
        m = Vector128.ConditionalSelect(take, v, m);
        t = Vector128.ConditionalSelect(take.AsInt32(), Vector128.Create(tap), t);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Where(Vector128<int> t, int tap, Vector128<T> g) =>
        Vector128.ConditionalSelect(Vector128.Equals(t, Vector128.Create(tap)).As<int, T>(), g, Vector128<T>.Zero);

    public static Vector128<int> Taps(int tap) => Vector128.Create(tap);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> LoadTaps(ReadOnlySpan<byte> taps) =>
        Vector128.WidenLower(Vector128.WidenLower(Vector128.CreateScalar(MemoryMarshal.Read<uint>(taps)).AsByte())).AsInt32();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreTaps(Vector128<int> t, Span<byte> taps)
    {
        var bytes = Vector128.Narrow(Vector128.Narrow(t, Vector128<int>.Zero), Vector128<short>.Zero).AsByte();
        MemoryMarshal.Write(taps, bytes.AsUInt32().ToScalar());
    }
}
