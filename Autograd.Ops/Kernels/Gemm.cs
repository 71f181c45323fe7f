using System.Numerics;

namespace Autograd.Kernels;

/// <summary>
/// General matrix multiply over strided operands: C = A·B or C += A·B, where
/// A[i, p] = a[aOffset + i·aRowStride + p·aColStride], B[p, j] = b[bOffset + p·bRowStride + j·bColStride]
/// and C[i, j] = c[cOffset + i·cRowStride + j] (C rows are contiguous). Any strides are accepted for A
/// and B, so transposed and sliced views multiply without a copy.
/// </summary>
internal static class Gemm
{
    public static void Multiply<T>(
        int m, int n, int k,
        T[] a, int aOffset, int aRowStride, int aColStride,
        T[] b, int bOffset, int bRowStride, int bColStride,
        T[] c, int cOffset, int cRowStride,
        bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Reference implementation (i-p-j order so the inner loop runs along C's row).
        for (var i = 0; i < m; i++)
        {
            var cRow = c.AsSpan(cOffset + i * cRowStride, n);
            if (!accumulate)
            {
                cRow.Clear();
            }

            for (var p = 0; p < k; p++)
            {
                var aip = a[aOffset + i * aRowStride + p * aColStride];
                var bAt = bOffset + p * bRowStride;
                for (var j = 0; j < n; j++)
                {
                    cRow[j] += aip * b[bAt + j * bColStride];
                }
            }
        }
    }
}
