using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

/// <summary>
/// 2-D max-pooling (PyTorch's max_pool2d): Y[n, c, oh, ow] = max over the window
/// X[n, c, oh·sH − pT + kh·dH, ow·sW − pL + kw·dW] of the input padded with −∞.
/// </summary>
/// <remarks>
/// Forward records each window's argmax as the winning tap's number in its window, a byte when the
/// window has fewer than 255 taps (ties go to the first maximum in row-major window order, as PyTorch).
/// VJP: dX[argmax[o]] += dY[o], so a window's gradient goes to its argmax only, and an element that wins
/// several overlapping windows collects all of their gradients. A plain backward runs that as one
/// pass per plane (<see cref="MaxPoolKernel.MaxBackward{T, TIndex}"/>); a create-graph backward records it as
/// the routing scatter of <see cref="IndexRouting"/>, whose VJP is a gather. Both give the same values.
/// </remarks>
public static class MaxPool2dExtensions
{
    // Window taps (forward) or input and output elements (backward) above which planes are spread over
    // threads: 2²¹, about 0.3 ms of one core's work on the 2×2 path. LeNet's first pool ([64, 6, 28, 28],
    // 0.04 ms forward on one thread) gains nothing from a second thread and, in `layers`, lost 0.2–0.5 ms
    // waiting for it; the peers' pooling workloads (≥ 10⁷ taps) stay parallel.
    private const long ParallelWork = 1L << 21;

    extension<T>(Tensor<T> input)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Max over windows of input [N, C, H, W] (or [C, H, W]); output [N, C, OH, OW] with
        /// OH = ⌊(H + 2·pH − dH·(KH − 1) − 1) / sH⌋ + 1 (rounded up in <paramref name="ceilMode"/>, where a
        /// window must still start inside the input or its top/left padding).
        /// </summary>
        /// <param name="kernel">Window size.</param>
        /// <param name="stride">Step between windows (default: the kernel size).</param>
        /// <param name="padding">Implicit −∞ padding per side, at most half the kernel (default 0).</param>
        /// <param name="dilation">Spacing between window taps (default 1).</param>
        /// <param name="ceilMode">Round the output size up instead of down.</param>
        /// <param name="callerFile">Filled in by the compiler: the calling file, kept on the tape node (<see cref="CallSite"/>).</param>
        /// <param name="callerLine">Filled in by the compiler: the calling line, kept on the tape node.</param>
        public Tensor<T> MaxPool2d(Size2 kernel, Size2? stride = null, Size2? padding = null, Size2? dilation = null, bool ceilMode = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            // Composed of recorded ops: each names the caller's line, not one in this file.
            using var callSite = CallSite.Enter(callerFile, callerLine);
            ArgumentNullException.ThrowIfNull(input);
            var s = stride ?? kernel;
            var p = padding ?? new Size2(0, 0);
            var d = dilation ?? new Size2(1, 1);
            var shape = $"(input {ShapeMath.Format(input.ShapeArray)}, kernel {kernel}, stride {s}, padding {p}, dilation {d}, ceilMode {(ceilMode ? "true" : "false")})";
            if (input.Rank is not (3 or 4))
            {
                throw new ArgumentException($"MaxPool2d: input must be 4-D [N, C, H, W] or 3-D [C, H, W], got rank {input.Rank} {shape}.", nameof(input));
            }

            if (!kernel.IsPositive)
            {
                throw new ArgumentException($"MaxPool2d: kernel size must be positive, got {kernel} {shape}.", nameof(kernel));
            }

            if (!s.IsPositive)
            {
                throw new ArgumentException($"MaxPool2d: stride must be positive, got {s} {shape}.", nameof(stride));
            }

            if (!d.IsPositive)
            {
                throw new ArgumentException($"MaxPool2d: dilation must be positive, got {d} {shape}.", nameof(dilation));
            }

            if (p.H < 0 || p.W < 0)
            {
                throw new ArgumentException($"MaxPool2d: padding must be non-negative, got {p} {shape}.", nameof(padding));
            }

            if (p.H > kernel.H / 2 || p.W > kernel.W / 2)
            {
                throw new ArgumentException($"MaxPool2d: padding {p} must be at most half the kernel size {kernel} {shape}.", nameof(padding));
            }

            var (c, h, w) = (input.ShapeArray[^3], input.ShapeArray[^2], input.ShapeArray[^1]);
            if (c < 1 || h < 1 || w < 1)
            {
                throw new ArgumentException($"MaxPool2d: channels and spatial size must be positive {shape}.", nameof(input));
            }

            var oh = PoolingShape.OutputSize(h, kernel.H, s.H, p.H, d.H, ceilMode);
            var ow = PoolingShape.OutputSize(w, kernel.W, s.W, p.W, d.W, ceilMode);
            if (oh < 1 || ow < 1)
            {
                throw new ArgumentException($"MaxPool2d: output size ({oh}, {ow}) is too small {shape}.", nameof(input));
            }

            if (input.Rank == 3)
            {
                // Unbatched [C, H, W]: a batch of one, recorded through the views' own VJPs.
                return Forward(input.Unsqueeze(0), kernel, s, p, d, oh, ow).Squeeze(0);
            }

            return Forward(input, kernel, s, p, d, oh, ow);
        }
    }

    private static Tensor<T> Forward<T>(Tensor<T> input, Size2 kernel, Size2 stride, Size2 padding, Size2 dilation, int oh, int ow)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Window taps are numbered kh·KW + kw; under 255 of them a byte holds the argmax (255 = no tap).
        return kernel.H * kernel.W < byte.MaxValue
            ? Forward<T, byte>(input, kernel, stride, padding, dilation, oh, ow, byte.MaxValue)
            : Forward<T, int>(input, kernel, stride, padding, dilation, oh, ow, -1);
    }

    private static Tensor<T> Forward<T, TIndex>(Tensor<T> input, Size2 kernel, Size2 stride, Size2 padding, Size2 dilation, int oh, int ow, int noTap)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TIndex : unmanaged, IBinaryInteger<TIndex>
    {
        var (n, c, h, w) = (input.ShapeArray[0], input.ShapeArray[1], input.ShapeArray[2], input.ShapeArray[3]);
        var output = Tensor<T>.Uninitialized([n, c, oh, ow]);
        if (OpTrace.IsActive)
        {
            OpTrace.Add("MaxPool2d", output, [input], ("kernel", new[] { kernel.H, kernel.W }), ("strides", new[] { stride.H, stride.W }),
                ("pads", new[] { padding.H, padding.W, padding.H, padding.W }), ("dilations", new[] { dilation.H, dilation.W }), ("outputSize", new[] { oh, ow }));
        }

        var record = Tape.ShouldRecord(input);
        var argmax = record ? new Storage<TIndex>(output.Numel, clear: false) : null;
        var workers = (long)output.Numel * kernel.H * kernel.W >= ParallelWork ? Gemm.MaxThreads : 1;
        using (var xr = input.Read())
        using (var yw = output.Write())
        {
            // argmax needs no scope here: the VJP recorded below captures it.
            MaxPoolKernel.MaxForward(
                xr.Memory, xr.Offset, input.StridesArray, n, c, h, w,
                kernel, stride, padding, dilation, oh, ow, yw.Memory, argmax?.Memory ?? default, noTap, workers);
        }

        if (record)
        {
            Tape.Record("MaxPool2d", output, [input], (dy, grads) =>
            {
                if (Tape.ShouldRecord(dy))
                {
                    // A create-graph backward: dX[argmax[o]] += dY[o] as a recorded scatter whose own VJP
                    // gathers at the argmax, so the gradient can be differentiated again. Each plane's
                    // argmaxes stay in that plane, so the planes scatter in parallel.
                    int[] flat;
                    using (var ar = argmax!.Read())
                    {
                        flat = MaxPoolKernel.FlatIndices<TIndex>(ar.Span, n * c, h, w, oh, ow, kernel, stride, padding, dilation, noTap);
                    }

                    grads[0] = IndexRouting.Scatter(dy, flat, [n, c, h, w], "MaxPool2d", planes: n * c);
                    return;
                }

                // dX[argmax[o]] += dY[o] in one pass: each plane of dX is cleared and scattered into while in cache.
                var dx = Tensor<T>.Uninitialized([n, c, h, w]);
                using (var dyr = dy.Read())
                using (var ar = argmax!.Read())
                using (var dxw = dx.Write())
                {
                    MaxPoolKernel.MaxBackward(
                        dyr.Memory, dyr.Offset, dy.StridesArray, ar.Memory, n, c, h, w, oh, ow,
                        kernel, stride, padding, dilation, dxw.Memory, noTap, (long)n * c * (h * w + oh * ow) >= ParallelWork ? Gemm.MaxThreads : 1);
                }

                grads[0] = dx;
            });
        }

        return output;
    }
}
