using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

/// <summary>
/// 2-D average pooling (PyTorch's avg_pool2d): Y[n, c, oh, ow] = Σ X[n, c, h, w] / divisor over the window
/// rows oh·sH − pH … oh·sH − pH + kH − 1 and columns likewise that lie inside the input (padding adds zeros).
/// </summary>
/// <remarks>
/// The divisor is PyTorch's: with <c>countIncludePad</c> the window's size clipped to the padded input
/// (kH·kW except where a ceil-mode window runs past the padding), otherwise the number of taps inside
/// the input; <c>divisorOverride</c> replaces both. Pooling is linear, y = P·x, so the VJP is the
/// spread dx = Pᵀ·g: dX[n, c, h, w] = Σ over the windows containing (h, w) of g / divisor — itself a
/// recorded op whose VJP is the pool again.
/// </remarks>
public static class AvgPool2dExtensions
{
    extension<T>(Tensor<T> input)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Averages over windows of input [N, C, H, W] (or [C, H, W]); output [N, C, OH, OW] with
        /// OH = ⌊(H + 2·pH − kH) / sH⌋ + 1 (rounded up in <paramref name="ceilMode"/>, where a window must
        /// still start inside the input or its top/left padding).
        /// </summary>
        /// <param name="kernel">Window size.</param>
        /// <param name="stride">Step between windows (default: the kernel size).</param>
        /// <param name="padding">Implicit zero padding per side, at most half the kernel (default 0).</param>
        /// <param name="ceilMode">Round the output size up instead of down.</param>
        /// <param name="countIncludePad">Count the zero padding in the divisor (default true, as PyTorch).</param>
        /// <param name="divisorOverride">Divide every window sum by this instead.</param>
        /// <param name="callerFile">Filled in by the compiler: the calling file, kept on the tape node (<see cref="CallSite"/>).</param>
        /// <param name="callerLine">Filled in by the compiler: the calling line, kept on the tape node.</param>
        public Tensor<T> AvgPool2d(
            Size2 kernel, Size2? stride = null, Size2? padding = null, bool ceilMode = false, bool countIncludePad = true, int? divisorOverride = null, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            // Composed of recorded ops: each names the caller's line, not one in this file.
            using var callSite = CallSite.Enter(callerFile, callerLine);
            ArgumentNullException.ThrowIfNull(input);
            var s = stride ?? kernel;
            var p = padding ?? new Size2(0, 0);
            var shape = $"(input {ShapeMath.Format(input.ShapeArray)}, kernel {kernel}, stride {s}, padding {p}, ceilMode {(ceilMode ? "true" : "false")})";
            if (input.Rank is not (3 or 4))
            {
                throw new ArgumentException($"AvgPool2d: input must be 4-D [N, C, H, W] or 3-D [C, H, W], got rank {input.Rank} {shape}.", nameof(input));
            }

            if (!kernel.IsPositive)
            {
                throw new ArgumentException($"AvgPool2d: kernel size must be positive, got {kernel} {shape}.", nameof(kernel));
            }

            if (!s.IsPositive)
            {
                throw new ArgumentException($"AvgPool2d: stride must be positive, got {s} {shape}.", nameof(stride));
            }

            if (p.H < 0 || p.W < 0 || p.H > kernel.H / 2 || p.W > kernel.W / 2)
            {
                throw new ArgumentException($"AvgPool2d: padding {p} must be non-negative and at most half the kernel size {kernel} {shape}.", nameof(padding));
            }

            if (divisorOverride is <= 0)
            {
                throw new ArgumentException($"AvgPool2d: divisorOverride must be positive, got {divisorOverride} {shape}.", nameof(divisorOverride));
            }

            var (h, w) = (input.ShapeArray[^2], input.ShapeArray[^1]);
            if (input.ShapeArray[^3] < 1 || h < 1 || w < 1)
            {
                throw new ArgumentException($"AvgPool2d: channels and spatial size must be positive {shape}.", nameof(input));
            }

            var oh = PoolingShape.OutputSize(h, kernel.H, s.H, p.H, 1, ceilMode);
            var ow = PoolingShape.OutputSize(w, kernel.W, s.W, p.W, 1, ceilMode);
            if (oh < 1 || ow < 1)
            {
                throw new ArgumentException($"AvgPool2d: output size ({oh}, {ow}) is too small {shape}.", nameof(input));
            }

            var (rowStart, rowEnd, rowPadded) = Axis(h, oh, kernel.H, s.H, p.H);
            var (colStart, colEnd, colPadded) = Axis(w, ow, kernel.W, s.W, p.W);
            var divisor = new long[oh * ow];
            for (var i = 0; i < oh; i++)
            {
                for (var j = 0; j < ow; j++)
                {
                    divisor[i * ow + j] = divisorOverride
                        ?? (countIncludePad
                            ? (long)rowPadded[i] * colPadded[j]
                            : (long)(rowEnd[i] - rowStart[i]) * (colEnd[j] - colStart[j]));
                }
            }

            var windows = new AverageWindows(h, w, rowStart, rowEnd, colStart, colEnd, divisor);
            return AveragePooling.Batched(input, x => AveragePooling.Pool("AvgPool2d", x, windows));
        }
    }

    /// <summary>
    /// One axis of PyTorch's avg_pool2d windows: start = i·s − p, end = min(start + k, size + p); the
    /// padded extent end − start counts for countIncludePad; the taps are [max(start, 0), min(end, size)).
    /// </summary>
    private static (int[] Start, int[] End, int[] Padded) Axis(int size, int outputs, int kernel, int stride, int pad)
    {
        var (start, end, padded) = (new int[outputs], new int[outputs], new int[outputs]);
        for (var i = 0; i < outputs; i++)
        {
            var s = (long)i * stride - pad;
            var e = Math.Min(s + kernel, size + (long)pad);
            padded[i] = (int)(e - s);
            start[i] = (int)Math.Max(s, 0);
            end[i] = (int)Math.Min(e, size);
        }

        return (start, end, padded);
    }
}
