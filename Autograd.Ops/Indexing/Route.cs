using System.Numerics;

namespace Autograd.Kernels;

/// <summary>Scatter-add and gather through a list of flat indices (−1: no position).</summary>
internal static class Route
{
    /// <summary>
    /// dst[index[o]] += src[o]. With <paramref name="parallel"/>, src and index are split into
    /// <paramref name="planes"/> equal runs whose indices fall in disjoint parts of dst (the caller's
    /// guarantee: max-pool windows stay in their own plane), so the runs can go to different threads.
    /// </summary>
    public static void ScatterAdd<T>(ReadOnlyMemory<T> src, int srcOffset, int[] index, Memory<T> dst, int planes, bool parallel)
        where T : unmanaged, INumberBase<T>
    {
        if (!parallel || planes < 2)
        {
            var s = src.Span;
            var d = dst.Span;
            for (var o = 0; o < index.Length; o++)
            {
                var k = index[o];
                if (k >= 0)
                {
                    d[k] += s[srcOffset + o];
                }
            }

            return;
        }

        var run = index.Length / planes;
        Threads.For(planes, Gemm.MaxThreads, plane =>
        {
            var s = src.Span;
            var d = dst.Span;
            for (int o = plane * run, end = o + run; o < end; o++)
            {
                var k = index[o];
                if (k >= 0)
                {
                    d[k] += s[srcOffset + o];
                }
            }
        });
    }

    /// <summary>dst[o] = src[index[o]], or 0 where index[o] is −1.</summary>
    public static void Gather<T>(ReadOnlySpan<T> src, int[] index, Span<T> dst)
        where T : unmanaged, INumberBase<T>
    {
        for (var o = 0; o < index.Length; o++)
        {
            var k = index[o];
            dst[o] = k >= 0 ? src[k] : T.Zero;
        }
    }
}
