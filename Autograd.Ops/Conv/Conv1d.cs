using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

/// <summary>
/// 1-D cross-correlation (PyTorch's conv1d): Y[n, f, o] = b[f] + Σ_{c, k} Xpad[n, g·Cg + c, o·s + k·d] · W[f, c, k].
/// </summary>
/// <remarks>
/// It is Conv2d over a height of one: the input [N, C, L] is viewed as [N, C, 1, L] and the weight
/// [F, C/groups, K] as [F, C/groups, 1, K] (Unsqueeze, no copy), convolved with stride (1, s), padding (0, p)
/// and dilation (1, d), and the height dropped again (Squeeze). The views and Conv2d are recorded, so the VJP
/// is Conv2d's through the views' reshapes (dX = ConvTranspose, dW = WeightGradient, db = Σ g), differentiable
/// again as Conv2d's is, and every Conv2d kernel choice (the wide-row kernel suits one-row images) serves it.
/// </remarks>
public static class Conv1dExtensions
{
    extension<T>(Tensor<T> input)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// 1-D convolution of input [N, C, L] (or unbatched [C, L]) with weight [F, C/groups, K] and optional
        /// bias [F]; output [N, F, OL] with OL = ⌊(L + 2·padding − dilation·(K − 1) − 1) / stride⌋ + 1.
        /// </summary>
        /// <param name="weight">Filters [F, C/groups, K].</param>
        /// <param name="bias">Per-filter bias [F], or null.</param>
        /// <param name="stride">Step between windows (default 1).</param>
        /// <param name="padding">Zero padding at each end: an int, "same" (stride 1 only) or "valid" (default 0).</param>
        /// <param name="dilation">Spacing between kernel taps (default 1).</param>
        /// <param name="groups">Channel groups, as Conv2d's.</param>
        /// <param name="callerFile">Filled in by the compiler: the calling file, kept on the tape nodes.</param>
        /// <param name="callerLine">Filled in by the compiler: the calling line, kept on the tape nodes.</param>
        public Tensor<T> Conv1d(Tensor<T> weight, Tensor<T>? bias = null, int stride = 1, Padding1d? padding = null, int dilation = 1, int groups = 1, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            // Composed of recorded ops: each names the caller's line, not one in this file.
            using var callSite = CallSite.Enter(callerFile, callerLine);
            ArgumentNullException.ThrowIfNull(input);
            ArgumentNullException.ThrowIfNull(weight);
            var pad = padding ?? 0;
            Check(input, weight, bias, stride, pad, dilation, groups);
            var batched = input.Rank == 3 ? input : input.Unsqueeze(0);
            var y = batched.Unsqueeze(2).Conv2d(weight.Unsqueeze(2), bias, new Size2(1, stride), pad.As2d(), new Size2(1, dilation), groups).Squeeze(2);
            return input.Rank == 3 ? y : y.Squeeze(0);
        }
    }

    /// <summary>The argument checks, in Conv1d's terms (Conv2d would name 4-D shapes the caller never made).</summary>
    private static void Check<T>(Tensor<T> input, Tensor<T> weight, Tensor<T>? bias, int stride, Padding1d padding, int dilation, int groups)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shapes = $"(input {ShapeMath.Format(input.ShapeArray)}, weight {ShapeMath.Format(weight.ShapeArray)}"
            + (bias is null ? ")" : $", bias {ShapeMath.Format(bias.ShapeArray)})");
        if (input.Rank is not (2 or 3))
        {
            throw new ArgumentException($"Conv1d: input must be 3-D [N, C, L] or 2-D [C, L], got rank {input.Rank} {shapes}.", nameof(input));
        }

        if (weight.Rank != 3)
        {
            throw new ArgumentException($"Conv1d: weight must be 3-D [F, C/groups, K], got rank {weight.Rank} {shapes}.", nameof(weight));
        }

        var (c, l) = (input.ShapeArray[^2], input.ShapeArray[^1]);
        var (f, cg, k) = (weight.ShapeArray[0], weight.ShapeArray[1], weight.ShapeArray[2]);
        if (groups < 1 || c % groups != 0 || f < groups || f % groups != 0)
        {
            throw new ArgumentException($"Conv1d: groups {groups} must be positive and divide the {c} input channels and the {f} filters {shapes}.", nameof(groups));
        }

        if (cg * groups != c)
        {
            var expects = groups == 1 ? $"{cg}" : $"{cg * groups} ({cg} per group × {groups} groups)";
            throw new ArgumentException($"Conv1d: input has {c} channels but weight expects {expects} {shapes}.", nameof(weight));
        }

        if (k < 1 || l < 1 || c < 1)
        {
            throw new ArgumentException($"Conv1d: kernel size, channels and length must be positive {shapes}.", nameof(input));
        }

        if (stride < 1 || dilation < 1)
        {
            throw new ArgumentException($"Conv1d: stride and dilation must be positive, got stride {stride}, dilation {dilation} {shapes}.", stride < 1 ? nameof(stride) : nameof(dilation));
        }

        if (bias is not null && (bias.Rank != 1 || bias.ShapeArray[0] != f))
        {
            throw new ArgumentException($"Conv1d: bias must have shape [{f}] (one per filter), got {ShapeMath.Format(bias.ShapeArray)} {shapes}.", nameof(bias));
        }

        var (_, _, left, right) = padding.As2d().Resolve(new Size2(1, k), new Size2(1, stride), new Size2(1, dilation), "Conv1d", shapes);
        var ol = Window.OutputSize(l + left + right, k, stride, dilation);
        if (ol < 1)
        {
            throw new ArgumentException(
                $"Conv1d: output length {ol} is too small: the padded length {l + left + right} is shorter than the dilated kernel {(long)dilation * (k - 1) + 1} (padding {padding}, stride {stride}, dilation {dilation}) {shapes}.",
                nameof(input));
        }
    }
}
