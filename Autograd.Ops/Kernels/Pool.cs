using System.Numerics;

namespace Autograd.Kernels;

/// <summary>
/// Windowed max with argmax, and its adjoint. Reads the [N, C, OH, OW, KH, KW] window view of the
/// input padded with −∞ (<see cref="Window"/>) without building the padded copy: a padded tap can
/// never beat a real one, so taps outside the input are simply skipped. That is also PyTorch's loop,
/// which makes the result identical to it, NaN propagation and all-−∞ windows included.
/// </summary>
internal static class Pool
{
    /// <summary>
    /// PyTorch's pooling_output_shape: ⌊(size + 2·pad − d·(k − 1) − 1 (+ s − 1 in ceil mode)) / s⌋ + 1,
    /// minus one in ceil mode when the last window would start beyond the input and its left padding.
    /// </summary>
    public static int OutputSize(int size, int kernel, int stride, int pad, int dilation, bool ceilMode)
    {
        // In long, and at least 0: a huge dilation or stride means "too small", not a wrapped-around size.
        var span = size + 2L * pad - (long)dilation * (kernel - 1) - 1 + (ceilMode ? stride - 1L : 0);
        var output = (long)Math.Floor((double)span / stride) + 1;
        if (ceilMode && (output - 1) * stride >= size + (long)pad)
        {
            output--;
        }

        return (int)Math.Clamp(output, 0, int.MaxValue);
    }

    /// <summary>
    /// y[n, c, oh, ow] = max over the taps (oh·sH − pT + kh·dH, ow·sW − pL + kw·dW) that fall inside the
    /// input and, when <paramref name="argmax"/> is given, argmax[n, c, oh, ow] = the winning tap's index
    /// kh·KW + kw in its window (a byte per output when the window has under 255 taps: the compact form
    /// is a quarter of an int's traffic). Ties go to the first maximum in row-major window order; a NaN
    /// wins (and a later NaN wins over it), as in PyTorch. A window with no tap inside the input gives
    /// −∞ and argmax <paramref name="noTap"/> (255 for byte indices, −1 for int). Input element [n, c, h, w] is
    /// x[xOffset + n·xStrides[0] + c·xStrides[1] + h·xStrides[2] + w·xStrides[3]], so any view works.
    /// </summary>
    public static void MaxForward<T, TIndex>(
        ReadOnlyMemory<T> x, int xOffset, int[] xStrides, int n, int c, int h, int w,
        Size2 kernel, Size2 stride, Size2 padding, Size2 dilation, int oh, int ow,
        Memory<T> y, Memory<TIndex> argmax, bool recordArgmax, int noTap, int workers)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        var (sN, sC, sH, sW) = (xStrides[0], xStrides[1], xStrides[2], xStrides[3]);
        Threads.For(n * c, workers, plane =>
        {
            var xs = x.Span;
            var ys = y.Span.Slice(plane * oh * ow, oh * ow);
            var arg = recordArgmax ? argmax.Span.Slice(plane * oh * ow, oh * ow) : default;
            var xPlane = xOffset + plane / c * sN + plane % c * sC;
            var o = 0;
            for (var i = 0; i < oh; i++)
            {
                var h0 = i * stride.H - padding.H;
                var (khStart, khEnd) = Taps(h0, h, kernel.H, dilation.H);
                for (var j = 0; j < ow; j++, o++)
                {
                    var w0 = j * stride.W - padding.W;
                    var (kwStart, kwEnd) = Taps(w0, w, kernel.W, dilation.W);

                    // PyTorch's rule: start from the first tap inside the input at −∞, take a tap when
                    // it is strictly greater (so ties keep the first) or NaN.
                    var best = T.NegativeInfinity;
                    var bestTap = khStart < khEnd && kwStart < kwEnd ? khStart * kernel.W + kwStart : noTap;
                    for (var kh = khStart; kh < khEnd; kh++)
                    {
                        var row = xPlane + (h0 + kh * dilation.H) * sH + w0 * sW;
                        for (var kw = kwStart; kw < kwEnd; kw++)
                        {
                            var v = xs[row + kw * dilation.W * sW];
                            if (v > best || T.IsNaN(v))
                            {
                                best = v;
                                bestTap = kh * kernel.W + kw;
                            }
                        }
                    }

                    ys[o] = best;
                    if (recordArgmax)
                    {
                        arg[o] = TIndex.CreateTruncating(bestTap);
                    }
                }
            }
        });
    }

    /// <summary>
    /// The adjoint of the windowed max: dx[tap of argmax[o]] += dy[o] for every output o, written into a
    /// row-major [N, C, H, W] dx that this clears plane by plane first (no separate zero-fill pass: each
    /// plane is cleared and scattered into while in cache). Overlapping windows can share a winner, so
    /// their gradients add. Planes are independent, so they run in parallel without races. dy is any
    /// [N, C, OH, OW] view (element [n, c, i, j] at dyOffset + n·dyStrides[0] + ...).
    /// </summary>
    public static void MaxBackward<T, TIndex>(
        ReadOnlyMemory<T> dy, int dyOffset, int[] dyStrides, ReadOnlyMemory<TIndex> argmax, int n, int c, int h, int w, int oh, int ow,
        Size2 kernel, Size2 stride, Size2 padding, Size2 dilation, Memory<T> dx, int noTap, int workers)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        var (s0, s1, s2, s3) = (dyStrides[0], dyStrides[1], dyStrides[2], dyStrides[3]);
        Threads.For(n * c, workers, plane =>
        {
            var dys = dy.Span;
            var arg = argmax.Span.Slice(plane * oh * ow, oh * ow);
            var dxs = dx.Span.Slice(plane * h * w, h * w);
            dxs.Clear();
            var at = dyOffset + plane / c * s0 + plane % c * s1;
            var o = 0;
            for (var i = 0; i < oh; i++)
            {
                var h0 = i * stride.H - padding.H;
                for (var j = 0; j < ow; j++, o++)
                {
                    var tap = int.CreateTruncating(arg[o]);
                    if (tap != noTap)
                    {
                        var hi = h0 + tap / kernel.W * dilation.H;
                        var wi = j * stride.W - padding.W + tap % kernel.W * dilation.W;
                        dxs[hi * w + wi] += dys[at + i * s2 + j * s3];
                    }
                }
            }
        });
    }

    /// <summary>Kernel taps [start, end) of a window starting at <paramref name="origin"/> that land in 0..size-1.</summary>
    private static (int Start, int End) Taps(int origin, int size, int kernel, int dilation)
    {
        var start = origin >= 0 ? 0 : (-origin + dilation - 1) / dilation;
        var end = origin >= size ? 0 : Math.Min(kernel, (size - 1 - origin) / dilation + 1);
        return (start, Math.Max(start, end));
    }
}
