using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Autograd.Kernels;

/// <summary>
/// C = A·B (+ a bias per row of C) for a shallow product: a contraction of at most <see cref="MaxDepth"/>
/// terms, such as a convolution over few input channels (LeNet's first layer: K = 1·5·5) or the input
/// gradient of one with few filters. Such a product does a few multiply-adds per element of B, so
/// <see cref="Gemm"/>'s packing of B would cost as much as the arithmetic; here B is read where it lies
/// (rows contiguous) and a tile of 4 rows × one vector of columns accumulates in registers.
/// </summary>
internal static class ShallowGemm
{
    /// <summary>The deepest contraction this kernel takes.</summary>
    public const int MaxDepth = 32;

    /// <summary>Whether the product of depth <paramref name="k"/> goes here rather than to <see cref="Gemm"/>.</summary>
    public static bool Applies<T>(int k)
        where T : unmanaged => k <= MaxDepth && Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported;

    /// <summary>
    /// C[i, j] = bias[i] + Σ_p A[i, p]·B[p, j] for i &lt; m, j &lt; n, p &lt; k, with A[i, p] = a[i·aRow + p·aCol],
    /// B[p, j] = b[p·ldb + j], C[i, j] = c[i·ldc + j]; <paramref name="bias"/> empty means no bias. The sum
    /// runs over p in order, so the result does not depend on how rows or columns are split.
    /// </summary>
    public static void Multiply<T>(
        int m, int n, int k,
        ReadOnlySpan<T> a, int aRow, int aCol,
        ReadOnlySpan<T> b, int ldb,
        Span<T> c, int ldc,
        ReadOnlySpan<T> bias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m <= 0 || n <= 0)
        {
            return;
        }

        // The extreme elements, checked once: the loops below index with unchecked refs.
        if (k < 1 || k > MaxDepth || (long)(m - 1) * aRow + (long)(k - 1) * aCol >= a.Length
            || (long)(k - 1) * ldb + n > b.Length || (long)(m - 1) * ldc + n > c.Length || (!bias.IsEmpty && bias.Length < m))
        {
            throw new ArgumentException($"ShallowGemm: operands too short for [{m}, {k}]·[{k}, {n}].");
        }

        ref var a0 = ref MemoryMarshal.GetReference(a);
        ref var b0 = ref MemoryMarshal.GetReference(b);
        ref var c0 = ref MemoryMarshal.GetReference(c);
        var width = Vector256<T>.Count;
        for (var i0 = 0; i0 < m; i0 += 4)
        {
            // Rows past m repeat the last row: computed alongside, never stored.
            var rows = Math.Min(4, m - i0);
            var (r0, r1, r2, r3) = (i0, i0 + Math.Min(1, rows - 1), i0 + Math.Min(2, rows - 1), i0 + Math.Min(3, rows - 1));
            var (bias0, bias1, bias2, bias3) = bias.IsEmpty ? (T.Zero, T.Zero, T.Zero, T.Zero) : (bias[r0], bias[r1], bias[r2], bias[r3]);
            var j = 0;
            for (; j + width <= n; j += width)
            {
                var acc0 = Vector256.Create(bias0);
                var acc1 = Vector256.Create(bias1);
                var acc2 = Vector256.Create(bias2);
                var acc3 = Vector256.Create(bias3);
                for (var p = 0; p < k; p++)
                {
                    var v = Vector256.LoadUnsafe(ref b0, (nuint)((nint)p * ldb + j));
                    acc0 += Vector256.Create(A(ref a0, r0, p, aRow, aCol)) * v;
                    acc1 += Vector256.Create(A(ref a0, r1, p, aRow, aCol)) * v;
                    acc2 += Vector256.Create(A(ref a0, r2, p, aRow, aCol)) * v;
                    acc3 += Vector256.Create(A(ref a0, r3, p, aRow, aCol)) * v;
                }

                acc0.StoreUnsafe(ref c0, (nuint)((nint)r0 * ldc + j));
                if (rows > 1)
                {
                    acc1.StoreUnsafe(ref c0, (nuint)((nint)r1 * ldc + j));
                }

                if (rows > 2)
                {
                    acc2.StoreUnsafe(ref c0, (nuint)((nint)r2 * ldc + j));
                }

                if (rows > 3)
                {
                    acc3.StoreUnsafe(ref c0, (nuint)((nint)r3 * ldc + j));
                }
            }

            // The ragged columns, one at a time, summed in the same order.
            for (; j < n; j++)
            {
                for (var i = i0; i < i0 + rows; i++)
                {
                    var sum = bias.IsEmpty ? T.Zero : bias[i];
                    for (var p = 0; p < k; p++)
                    {
                        sum += A(ref a0, i, p, aRow, aCol) * Unsafe.Add(ref b0, (nint)p * ldb + j);
                    }

                    Unsafe.Add(ref c0, (nint)i * ldc + j) = sum;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T A<T>(ref T a0, int i, int p, int aRow, int aCol) => Unsafe.Add(ref a0, (nint)i * aRow + (nint)p * aCol);
}
