using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

/// <summary>
/// 2-D transposed convolution (PyTorch's conv_transpose2d): the adjoint of Conv2d with respect to its
/// input, Y[n, c_out, i·sH − pH + kh·dH, j·sW − pW + kw·dW] += X[n, c_in, i, j] · W[c_in, c_out mod (C_out/groups), kh, kw],
/// plus b[c_out]. It is Conv2d's input gradient (the same code runs both), so its VJP is made of
/// Conv2d and Conv2d's weight gradient: dX = conv2d(dY, W), dW = WeightGradient(dY, X), db = Σ dY.
/// </summary>
public static class ConvTranspose2dExtensions
{
    extension<T>(Tensor<T> input)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Transposed convolution of input [N, C_in, H, W] (or unbatched [C_in, H, W]) with weight
        /// [C_in, C_out/groups, KH, KW] and optional bias [C_out]; output [N, C_out, OH, OW] with
        /// OH = (H − 1)·sH − 2·pH + dH·(KH − 1) + outputPaddingH + 1.
        /// </summary>
        /// <param name="weight">Filters [C_in, C_out/groups, KH, KW] (Conv2d's layout read the other way round).</param>
        /// <param name="bias">Per-output-channel bias [C_out], or null.</param>
        /// <param name="stride">Step between the input positions in the output (default 1).</param>
        /// <param name="padding">Rows and columns cropped from each side of the full output (default 0), so that it undoes a Conv2d's padding.</param>
        /// <param name="outputPadding">Extra rows/columns at the bottom/right: which of the input sizes that a strided Conv2d maps to H this output takes (default 0; less than the stride or the dilation).</param>
        /// <param name="groups">Channel groups, as in Conv2d.</param>
        /// <param name="dilation">Spacing between kernel taps (default 1).</param>
        /// <param name="callerFile">Filled in by the compiler: the calling file, kept on the tape node (<see cref="CallSite"/>).</param>
        /// <param name="callerLine">Filled in by the compiler: the calling line, kept on the tape node.</param>
        public Tensor<T> ConvTranspose2d(
            Tensor<T> weight, Tensor<T>? bias = null, Size2? stride = null, Size2? padding = null, Size2? outputPadding = null, int groups = 1, Size2? dilation = null, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            // Composed of recorded ops: each names the caller's line, not one in this file.
            using var callSite = CallSite.Enter(callerFile, callerLine);
            ArgumentNullException.ThrowIfNull(input);
            ArgumentNullException.ThrowIfNull(weight);
            var geometry = Check(input, weight, bias, stride ?? new Size2(1, 1), padding ?? new Size2(0, 0), outputPadding ?? new Size2(0, 0), groups, dilation ?? new Size2(1, 1));
            if (input.Rank == 3)
            {
                // Unbatched [C, H, W]: a batch of one, recorded through the views' own VJPs.
                return Conv2dExtensions.Transposed(input.Unsqueeze(0), weight, bias, geometry).Squeeze(0);
            }

            return Conv2dExtensions.Transposed(input, weight, bias, geometry);
        }
    }

    /// <summary>
    /// The geometry of the Conv2d whose input gradient this is: that conv's input is our output
    /// [N, C_out, OH, OW], its filters are our C_in input channels, its output our input. Output padding
    /// extends the bottom/right without adding windows: the conv's bottom padding shrinks by it (never
    /// below 0) and its window count is pinned to our input size.
    /// </summary>
    private static ConvGeometry Check<T>(Tensor<T> input, Tensor<T> weight, Tensor<T>? bias, Size2 stride, Size2 padding, Size2 outputPadding, int groups, Size2 dilation)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shapes = bias is null
            ? $"(input {ShapeMath.Format(input.ShapeArray)}, weight {ShapeMath.Format(weight.ShapeArray)})"
            : $"(input {ShapeMath.Format(input.ShapeArray)}, weight {ShapeMath.Format(weight.ShapeArray)}, bias {ShapeMath.Format(bias.ShapeArray)})";
        if (input.Rank is not (3 or 4))
        {
            throw new ArgumentException($"ConvTranspose2d: input must be 4-D [N, C, H, W] or 3-D [C, H, W], got rank {input.Rank} {shapes}.", nameof(input));
        }

        if (weight.Rank != 4)
        {
            throw new ArgumentException($"ConvTranspose2d: weight must be 4-D [C_in, C_out/groups, KH, KW], got rank {weight.Rank} {shapes}.", nameof(weight));
        }

        var n = input.Rank == 4 ? input.ShapeArray[0] : 1;
        var (cIn, h, w) = (input.ShapeArray[^3], input.ShapeArray[^2], input.ShapeArray[^1]);
        var (wIn, cOutG, kh, kw) = (weight.ShapeArray[0], weight.ShapeArray[1], weight.ShapeArray[2], weight.ShapeArray[3]);
        if (groups < 1)
        {
            throw new ArgumentException($"ConvTranspose2d: groups must be positive, got {groups} {shapes}.", nameof(groups));
        }

        if (cIn < 1 || h < 1 || w < 1)
        {
            throw new ArgumentException($"ConvTranspose2d: input channels and spatial size must be positive {shapes}.", nameof(input));
        }

        if (cIn % groups != 0)
        {
            throw new ArgumentException($"ConvTranspose2d: groups {groups} does not divide the {cIn} input channels {shapes}.", nameof(groups));
        }

        if (wIn != cIn)
        {
            throw new ArgumentException($"ConvTranspose2d: input has {cIn} channels but weight expects {wIn} {shapes}.", nameof(weight));
        }

        if (cOutG < 1 || kh < 1 || kw < 1)
        {
            throw new ArgumentException($"ConvTranspose2d: output channels per group and kernel size must be positive, got weight {ShapeMath.Format(weight.ShapeArray)} {shapes}.", nameof(weight));
        }

        if (!stride.IsPositive)
        {
            throw new ArgumentException($"ConvTranspose2d: stride must be positive, got {stride} {shapes}.", nameof(stride));
        }

        if (!dilation.IsPositive)
        {
            throw new ArgumentException($"ConvTranspose2d: dilation must be positive, got {dilation} {shapes}.", nameof(dilation));
        }

        if (padding.H < 0 || padding.W < 0)
        {
            throw new ArgumentException($"ConvTranspose2d: padding must be non-negative, got {padding} {shapes}.", nameof(padding));
        }

        // PyTorch's rule: output padding must be smaller than either the stride or the dilation.
        if (outputPadding.H < 0 || outputPadding.W < 0
            || (outputPadding.H >= stride.H && outputPadding.H >= dilation.H)
            || (outputPadding.W >= stride.W && outputPadding.W >= dilation.W))
        {
            throw new ArgumentException(
                $"ConvTranspose2d: output padding {outputPadding} must be non-negative and smaller than either the stride {stride} or the dilation {dilation} {shapes}.",
                nameof(outputPadding));
        }

        var cOut = cOutG * groups;
        if (bias is not null && (bias.Rank != 1 || bias.ShapeArray[0] != cOut))
        {
            throw new ArgumentException($"ConvTranspose2d: bias must have shape [{cOut}] (one per output channel), got {ShapeMath.Format(bias.ShapeArray)} {shapes}.", nameof(bias));
        }

        var oh = (h - 1L) * stride.H - 2L * padding.H + (long)dilation.H * (kh - 1) + outputPadding.H + 1;
        var ow = (w - 1L) * stride.W - 2L * padding.W + (long)dilation.W * (kw - 1) + outputPadding.W + 1;
        if (oh < 1 || ow < 1 || oh > int.MaxValue || ow > int.MaxValue)
        {
            throw new ArgumentException(
                $"ConvTranspose2d: output size ({oh}, {ow}) is not positive: the padding {padding} crops more than the full output ({oh + 2L * padding.H}, {ow + 2L * padding.W}) {shapes}.",
                nameof(padding));
        }

        ShapeMath.Numel([n, cOut, (int)oh, (int)ow], "ConvTranspose2d");
        return new ConvGeometry(
            n, cOut, (int)oh, (int)ow, cIn, groups, kh, kw, stride, dilation,
            padding.H, Math.Max(0, padding.H - outputPadding.H), padding.W, Math.Max(0, padding.W - outputPadding.W), h, w);
    }
}
