using System.Numerics;

namespace Autograd.Kernels;

/// <summary>
/// Windowed max with argmax (its adjoint is the scatter of <see cref="Route"/>). Reads the [N, C, OH, OW, KH, KW] window view of the
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
    /// input, and argmax[n, c, oh, ow] = the row-major flat index of that tap in [N, C, H, W]. Ties go
    /// to the first maximum in row-major window order; a NaN wins (and a later NaN wins over it), as
    /// in PyTorch. A window with no tap inside the input gives −∞ and argmax −1. Input element
    /// [n, c, h, w] is x[xOffset + n·xStrides[0] + c·xStrides[1] + h·xStrides[2] + w·xStrides[3]], so any view works.
    /// </summary>
    public static void MaxForward<T>(
        T[] x, int xOffset, ReadOnlySpan<int> xStrides, int n, int c, int h, int w,
        Size2 kernel, Size2 stride, Size2 padding, Size2 dilation, int oh, int ow,
        T[] y, int[] argmax, bool parallel)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (sN, sC, sH, sW) = (xStrides[0], xStrides[1], xStrides[2], xStrides[3]);
        var planes = n * c;
        void Plane(int plane)
        {
            var (ni, ci) = (plane / c, plane % c);
            var xPlane = xOffset + ni * sN + ci * sC;
            var flatPlane = plane * h * w;
            var o = plane * oh * ow;
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
                    var bestAt = khStart < khEnd && kwStart < kwEnd
                        ? flatPlane + (h0 + khStart * dilation.H) * w + w0 + kwStart * dilation.W
                        : -1;
                    for (var kh = khStart; kh < khEnd; kh++)
                    {
                        var hi = h0 + kh * dilation.H;
                        for (var kw = kwStart; kw < kwEnd; kw++)
                        {
                            var wi = w0 + kw * dilation.W;
                            var v = x[xPlane + hi * sH + wi * sW];
                            if (v > best || T.IsNaN(v))
                            {
                                best = v;
                                bestAt = flatPlane + hi * w + wi;
                            }
                        }
                    }

                    y[o] = best;
                    argmax[o] = bestAt;
                }
            }
        }

        if (parallel && planes > 1)
        {
            Parallel.For(0, planes, Plane);
        }
        else
        {
            for (var plane = 0; plane < planes; plane++)
            {
                Plane(plane);
            }
        }
    }

    /// <summary>Kernel taps [start, end) of a window starting at <paramref name="origin"/> that land in 0..size-1.</summary>
    private static (int Start, int End) Taps(int origin, int size, int kernel, int dilation)
    {
        var start = origin >= 0 ? 0 : (-origin + dilation - 1) / dilation;
        var end = origin >= size ? 0 : Math.Min(kernel, (size - 1 - origin) / dilation + 1);
        return (start, Math.Max(start, end));
    }
}
