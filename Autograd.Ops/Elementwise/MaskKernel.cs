using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Autograd.Kernels;

/// <summary>
/// ReLU's two memory-bound passes, d = x &amp; mask(y): the forward keeps x where x &gt; 0 or x is NaN
/// (max(x, 0) with NaN kept, +0 for ±0, as <c>TensorPrimitives.Max(x, 0)</c>), the backward keeps g
/// where y &gt; 0. One load, a compare and an and per vector: both run at the memory's speed, so 256-bit
/// vectors are enough at any machine width. A destination of at least <see cref="StreamBytes"/> is
/// written with non-temporal stores: a normal store first reads its cache line (read for ownership),
/// so writing a buffer much larger than the last-level cache moves its bytes twice; a streaming store
/// moves them once and does not evict the inputs. Only where the bytes go differs, never their values,
/// so the result is the same bits whether or not a span streams and wherever threads cut the pass.
/// </summary>
internal static class MaskKernel
{
    /// <summary>
    /// Bytes of one contiguous destination span (one thread's share of a pass) from which its stores
    /// stream: a whole L3 of this class of machine (16–32 MiB), so the pass's output is at least that
    /// large and the next op could not have found it in the cache anyway.
    /// </summary>
    internal const long StreamBytes = 32L << 20;

    /// <summary>Ordinary stores at every size (benchmarks' same-session baseline: `--no-stream`).</summary>
    internal static bool StreamingDisabled { get; set; }

    /// <summary>Whether a span of <paramref name="n"/> elements of T is written with streaming stores.</summary>
    internal static bool Streams<T>(long n)
        where T : unmanaged
        => n * Unsafe.SizeOf<T>() >= StreamBytes && !StreamingDisabled;

    /// <summary>d[i] = x[i] &gt; 0 or x[i] is NaN ? x[i] : 0 (ReLU's forward).</summary>
    public static void Relu<T>(ReadOnlySpan<T> x, Span<T> d, bool stream)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Run<T, KeepPositiveOrNaN<T>>(x, x, d, stream);

    /// <summary>d[i] = y[i] &gt; 0 ? g[i] : 0, with g as long as d or a single value (ReLU's backward; NaN in y gives 0).</summary>
    public static void MaskPositive<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> d, bool stream)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Run<T, KeepWherePositive<T>>(y, g, d, stream);

    private interface IMask<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>All bits set in the lanes of <paramref name="m"/> whose value is kept.</summary>
        static abstract Vector256<T> Mask(Vector256<T> m);

        static abstract bool Keep(T m);
    }

    private readonly struct KeepPositiveOrNaN<T> : IMask<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static Vector256<T> Mask(Vector256<T> m) => Vector256.GreaterThan(m, Vector256<T>.Zero) | ~Vector256.Equals(m, m);

        public static bool Keep(T m) => m > T.Zero || T.IsNaN(m);
    }

    private readonly struct KeepWherePositive<T> : IMask<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // GreaterThan sets every bit of a lane where m > 0 (NaN compares false).
        public static Vector256<T> Mask(Vector256<T> m) => Vector256.GreaterThan(m, Vector256<T>.Zero);

        public static bool Keep(T m) => m > T.Zero;
    }

    /// <summary>d[i] = TMask.Keep(m[i]) ? v[i] : 0, v as long as d or one value (kept as that value).</summary>
    private static unsafe void Run<T, TMask>(ReadOnlySpan<T> m, ReadOnlySpan<T> v, Span<T> d, bool stream)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TMask : IMask<T>
    {
        var n = d.Length;
        var one = v.Length == 1 && n != 1;
        ref var mr = ref MemoryMarshal.GetReference(m);
        ref var vr = ref MemoryMarshal.GetReference(v);
        ref var dr = ref MemoryMarshal.GetReference(d);
        var i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var w = Vector256<T>.Count;
            var vv = one ? Vector256.Create(v[0]) : default;
            if (stream && Sse.IsSupported)
            {
                // The destination is pinned while its address is in use (the span may be a managed array's).
                fixed (T* dp = d)
                {
                    // Scalar head up to the destination's first 32-byte boundary: aligned streaming stores after it.
                    var misaligned = (int)((nuint)dp & 31) / sizeof(T);
                    var head = Math.Min(n, misaligned == 0 ? 0 : (32 / sizeof(T)) - misaligned);
                    for (; i < head; i++)
                    {
                        dp[i] = TMask.Keep(Unsafe.Add(ref mr, i)) ? (one ? v[0] : Unsafe.Add(ref vr, i)) : T.Zero;
                    }

                    for (; i <= n - w; i += w)
                    {
                        var mask = TMask.Mask(Vector256.LoadUnsafe(ref mr, (nuint)i));
                        (mask & (one ? vv : Vector256.LoadUnsafe(ref vr, (nuint)i))).StoreAlignedNonTemporal(dp + i);
                    }
                }

                // Streaming stores are weakly ordered: fence them before another thread may read the result.
                Sse.StoreFence();
            }
            else
            {
                for (; i <= n - w; i += w)
                {
                    var mask = TMask.Mask(Vector256.LoadUnsafe(ref mr, (nuint)i));
                    (mask & (one ? vv : Vector256.LoadUnsafe(ref vr, (nuint)i))).StoreUnsafe(ref dr, (nuint)i);
                }
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref dr, i) = TMask.Keep(Unsafe.Add(ref mr, i)) ? (one ? v[0] : Unsafe.Add(ref vr, i)) : T.Zero;
        }
    }
}
