using System.Numerics;

namespace Autograd.Kernels;

/// <summary>
/// Windows for average pooling over [N, C, H, W], separable in height and width: output row i averages
/// input rows [RowStart[i], RowEnd[i]) and output column j input columns [ColStart[j], ColEnd[j]) (both
/// already clipped to the input), and output (i, j) divides its sum by Divisor[i·OW + j]. AvgPool2d
/// (strided windows, padding counted or not) and AdaptiveAvgPool2d (PyTorch's floor/ceil bins) both
/// describe their windows this way and share the two kernels below.
/// </summary>
internal sealed record AverageWindows(int H, int W, int[] RowStart, int[] RowEnd, int[] ColStart, int[] ColEnd, long[] Divisor)
{
    public int OH => RowStart.Length;

    public int OW => ColStart.Length;
}

internal static class AveragePool
{
    // Window taps above which planes are spread over threads (as max-pooling).
    private const long ParallelWork = 1L << 18;

    /// <summary>
    /// y[n, c, i, j] = Σ_{h ∈ rows(i), w ∈ cols(j)} x[n, c, h, w] / Divisor[i, j] into the row-major y.
    /// x is any [N, C, H, W] view (element at xOffset + Σ index·stride).
    /// </summary>
    public static void Forward<T>(ReadOnlyMemory<T> x, int xOffset, ReadOnlySpan<int> xStrides, int n, int c, AverageWindows win, Memory<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (sN, sC, sH, sW) = (xStrides[0], xStrides[1], xStrides[2], xStrides[3]);
        var (oh, ow) = (win.OH, win.OW);
        ForEachPlane(n * c, Work(n * c, win), plane =>
        {
            var xs = x.Span;
            var ys = y.Span;
            var xPlane = xOffset + plane / c * sN + plane % c * sC;
            var o = plane * oh * ow;
            for (var i = 0; i < oh; i++)
            {
                for (var j = 0; j < ow; j++, o++)
                {
                    var sum = T.Zero;
                    for (var h = win.RowStart[i]; h < win.RowEnd[i]; h++)
                    {
                        for (var w = win.ColStart[j]; w < win.ColEnd[j]; w++)
                        {
                            sum += xs[xPlane + h * sH + w * sW];
                        }
                    }

                    ys[o] = sum / T.CreateChecked(win.Divisor[i * ow + j]);
                }
            }
        });
    }

    /// <summary>
    /// The adjoint (transpose) of <see cref="Forward{T}"/>: dx[n, c, h, w] += dy[n, c, i, j] / Divisor[i, j]
    /// for every window (i, j) that contains (h, w). dy is any [N, C, OH, OW] view; dx is row-major
    /// [N, C, H, W] and added into. Planes are independent, so they run in parallel without races.
    /// </summary>
    public static void Spread<T>(ReadOnlyMemory<T> dy, int dyOffset, ReadOnlySpan<int> dyStrides, int n, int c, AverageWindows win, Memory<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (s0, s1, s2, s3) = (dyStrides[0], dyStrides[1], dyStrides[2], dyStrides[3]);
        var (oh, ow, width) = (win.OH, win.OW, win.W);
        ForEachPlane(n * c, Work(n * c, win), plane =>
        {
            var dys = dy.Span;
            var dxs = dx.Span;
            var at = dyOffset + plane / c * s0 + plane % c * s1;
            var xPlane = plane * win.H * width;
            for (var i = 0; i < oh; i++)
            {
                for (var j = 0; j < ow; j++)
                {
                    var share = dys[at + i * s2 + j * s3] / T.CreateChecked(win.Divisor[i * ow + j]);
                    for (var h = win.RowStart[i]; h < win.RowEnd[i]; h++)
                    {
                        for (var w = win.ColStart[j]; w < win.ColEnd[j]; w++)
                        {
                            dxs[xPlane + h * width + w] += share;
                        }
                    }
                }
            }
        });
    }

    private static long Work(int planes, AverageWindows win)
    {
        long taps = 0;
        for (var i = 0; i < win.OH; i++)
        {
            taps += win.RowEnd[i] - win.RowStart[i];
        }

        long cols = 0;
        for (var j = 0; j < win.OW; j++)
        {
            cols += win.ColEnd[j] - win.ColStart[j];
        }

        return planes * taps * cols;
    }

    private static void ForEachPlane(int planes, long work, Action<int> plane)
    {
        if (Gemm.MaxThreads > 1 && planes > 1 && work >= ParallelWork)
        {
            Parallel.For(0, planes, plane);
        }
        else
        {
            for (var p = 0; p < planes; p++)
            {
                plane(p);
            }
        }
    }
}
