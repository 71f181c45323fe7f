using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

/// <summary>
/// 2-D cross-correlation (PyTorch's conv2d): Y[n, f, oh, ow] = b[f] +
/// Σ_{c, kh, kw} Xpad[n, g·Cg + c, oh·sH + kh·dH, ow·sW + kw·dW] · W[f, c, kh, kw], with g = f / Fg the
/// group of filter f.
/// </summary>
/// <remarks>
/// Forward: the columns cols_{n,g} [Cg·KH·KW, OH·OW] are the window view [N, C, OH, OW, KH, KW] of the
/// zero-padded input (<see cref="Window.View{T}"/>; stride and dilation are strides of that view), and
/// Y_{n,g} = W_g · cols_{n,g} (GEMM), plus b. No padded copy is made: the columns are packed a block of
/// output positions at a time straight from the input, zeros supplied for taps in the padding
/// (<see cref="ConvColumns"/>), or read in place when the view already is a matrix (1×1, stride 1).
/// VJP, with dY the output gradient:
/// <list type="bullet">
/// <item>dX = ConvTranspose2d(dY, W): dcols_{n,g} = W_gᵀ · dY_{n,g}, scatter-added through the same
/// windows into zeros of the input's shape, taps in the padding dropped. This is the full convolution of
/// the dilated dY with the 180°-rotated kernel: the rotation and dilation are what the scatter through
/// the window strides does;</item>
/// <item>dW = WeightGradient(X, dY): dW_g = Σ_n dY_{n,g} · cols_{n,g}ᵀ (GEMM, columns packed again from
/// the saved input), summed over fixed chunks of images in chunk order;</item>
/// <item>db[f] = Σ_{n, oh, ow} dY[n, f, oh, ow].</item>
/// </list>
/// The three are bilinear forms of one trilinear form B(X, dY, W) = ⟨dY, conv(X, W)⟩, so each one's
/// VJP is made of the other two: conv's partials are (ConvTranspose, WeightGradient), ConvTranspose's
/// (conv, WeightGradient), WeightGradient's (ConvTranspose, conv). With createGraph the VJP records
/// those ops; without it dX and dW come from one fused pass over the images that runs the same
/// per-image kernels (same bits). Only the gradients of inputs that require grad are computed.
/// This file holds the entry point, the checks and the recording; which kernels compute each pass (the
/// input itself as columns, wide rows, Winograd, the shallow kernel or packed columns) is chosen once per
/// call by <see cref="ConvPlan.Choose{T}"/>, and <see cref="ConvPlan"/> runs the passes.
/// </remarks>
public static class Conv2dExtensions
{
    extension<T>(Tensor<T> input)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// 2-D convolution of input [N, C, H, W] (or unbatched [C, H, W]) with weight [F, C/groups, KH, KW]
        /// and optional bias [F]; output [N, F, OH, OW] with OH = ⌊(H + padTop + padBottom − dH·(KH − 1) − 1) / sH⌋ + 1.
        /// </summary>
        /// <param name="weight">Filters [F, C/groups, KH, KW].</param>
        /// <param name="bias">Per-filter bias [F], or null.</param>
        /// <param name="stride">Step between windows (default 1).</param>
        /// <param name="padding">Zero padding per side: an int, an (h, w) pair, "same" (stride 1 only) or "valid" (default 0).</param>
        /// <param name="dilation">Spacing between kernel taps (default 1).</param>
        /// <param name="groups">Channel groups: input channels and filters are split into this many independent convolutions.</param>
        /// <param name="callerFile">Filled in by the compiler: the calling file, kept on the tape node (<see cref="CallSite"/>).</param>
        /// <param name="callerLine">Filled in by the compiler: the calling line, kept on the tape node.</param>
        public Tensor<T> Conv2d(Tensor<T> weight, Tensor<T>? bias = null, Size2? stride = null, Padding2d? padding = null, Size2? dilation = null, int groups = 1, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            // Composed of recorded ops: each names the caller's line, not one in this file.
            using var callSite = CallSite.Enter(callerFile, callerLine);
            ArgumentNullException.ThrowIfNull(input);
            ArgumentNullException.ThrowIfNull(weight);
            var geometry = Check(input, weight, bias, stride ?? new Size2(1, 1), padding ?? 0, dilation ?? new Size2(1, 1), groups);
            if (input.Rank == 3)
            {
                // Unbatched [C, H, W]: a batch of one, recorded through the views' own VJPs.
                return Forward(input.Unsqueeze(0), weight, bias, geometry).Squeeze(0);
            }

            return Forward(input, weight, bias, geometry);
        }
    }

    private static ConvGeometry Check<T>(Tensor<T> input, Tensor<T> weight, Tensor<T>? bias, Size2 stride, Padding2d padding, Size2 dilation, int groups)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shapes = bias is null
            ? $"(input {ShapeMath.Format(input.ShapeArray)}, weight {ShapeMath.Format(weight.ShapeArray)})"
            : $"(input {ShapeMath.Format(input.ShapeArray)}, weight {ShapeMath.Format(weight.ShapeArray)}, bias {ShapeMath.Format(bias.ShapeArray)})";
        if (input.Rank is not (3 or 4))
        {
            throw new ArgumentException($"Conv2d: input must be 4-D [N, C, H, W] or 3-D [C, H, W], got rank {input.Rank} {shapes}.", nameof(input));
        }

        if (weight.Rank != 4)
        {
            throw new ArgumentException($"Conv2d: weight must be 4-D [F, C/groups, KH, KW], got rank {weight.Rank} {shapes}.", nameof(weight));
        }

        var batched = input.Rank == 4;
        var n = batched ? input.ShapeArray[0] : 1;
        var c = input.ShapeArray[^3];
        var h = input.ShapeArray[^2];
        var w = input.ShapeArray[^1];
        var (f, cg, kh, kw) = (weight.ShapeArray[0], weight.ShapeArray[1], weight.ShapeArray[2], weight.ShapeArray[3]);
        if (groups < 1)
        {
            throw new ArgumentException($"Conv2d: groups must be positive, got {groups} {shapes}.", nameof(groups));
        }

        if (c % groups != 0)
        {
            throw new ArgumentException($"Conv2d: groups {groups} does not divide the {c} input channels {shapes}.", nameof(groups));
        }

        if (f < groups || f % groups != 0)
        {
            throw new ArgumentException($"Conv2d: groups {groups} does not divide the {f} filters of the weight {shapes}.", nameof(groups));
        }

        if (cg * groups != c)
        {
            var expects = groups == 1 ? $"{cg}" : $"{cg * groups} ({cg} per group × {groups} groups)";
            throw new ArgumentException($"Conv2d: input has {c} channels but weight expects {expects} {shapes}.", nameof(weight));
        }

        if (kh < 1 || kw < 1)
        {
            throw new ArgumentException($"Conv2d: kernel size must be positive, got ({kh}, {kw}) {shapes}.", nameof(weight));
        }

        if (h < 1 || w < 1 || c < 1)
        {
            throw new ArgumentException($"Conv2d: input channels and spatial size must be positive {shapes}.", nameof(input));
        }

        if (!stride.IsPositive)
        {
            throw new ArgumentException($"Conv2d: stride must be positive, got {stride} {shapes}.", nameof(stride));
        }

        if (!dilation.IsPositive)
        {
            throw new ArgumentException($"Conv2d: dilation must be positive, got {dilation} {shapes}.", nameof(dilation));
        }

        if (bias is not null && (bias.Rank != 1 || bias.ShapeArray[0] != f))
        {
            throw new ArgumentException($"Conv2d: bias must have shape [{f}] (one per filter), got {ShapeMath.Format(bias.ShapeArray)} {shapes}.", nameof(bias));
        }

        var kernel = new Size2(kh, kw);
        var (top, bottom, left, right) = padding.Resolve(kernel, stride, dilation, "Conv2d", shapes);
        var (paddedH, paddedW) = ((long)h + top + bottom, (long)w + left + right);
        if ((top | bottom | left | right) != 0 && (double)n * c * paddedH * paddedW > int.MaxValue)
        {
            // The padded input is never built, but the kernels index it in int arithmetic.
            throw new ArgumentException(
                $"Conv2d: the padded input [{n}, {c}, {paddedH}, {paddedW}] has more than {int.MaxValue} elements (padding {padding}) {shapes}.", nameof(padding));
        }

        var oh = Window.OutputSize(h + top + bottom, kh, stride.H, dilation.H);
        var ow = Window.OutputSize(w + left + right, kw, stride.W, dilation.W);
        if (oh < 1 || ow < 1)
        {
            throw new ArgumentException(
                $"Conv2d: output size ({oh}, {ow}) is too small: the padded input ({h + top + bottom}, {w + left + right}) is smaller than the dilated kernel "
                + $"({(long)dilation.H * (kh - 1) + 1}, {(long)dilation.W * (kw - 1) + 1}) (padding {padding}, stride {stride}, dilation {dilation}) {shapes}.",
                nameof(input));
        }

        if ((double)n * f * oh * ow > int.MaxValue)
        {
            throw new ArgumentException($"Conv2d: the output [{n}, {f}, {oh}, {ow}] has more than {int.MaxValue} elements (padding {padding}, stride {stride}, dilation {dilation}) {shapes}.", nameof(input));
        }

        return new ConvGeometry(n, c, h, w, f, groups, kh, kw, stride, dilation, top, bottom, left, right, oh, ow);
    }

    /// <summary>
    /// Y = conv(X, W) + b for a batched input (<see cref="ConvPlan.Forward{T}"/>); recorded, with the VJP
    /// described on the class.
    /// </summary>
    private static Tensor<T> Forward<T>(Tensor<T> input, Tensor<T> weight, Tensor<T>? bias, ConvGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var output = ConvPlan.Forward(input, weight, bias, g);
        if (OpTrace.IsActive)
        {
            OpTrace.Add("Conv2d", output, [input, weight, bias], ("strides", new[] { g.Stride.H, g.Stride.W }), ("dilations", new[] { g.Dilation.H, g.Dilation.W }),
                ("pads", new[] { g.PadTop, g.PadLeft, g.PadBottom, g.PadRight }), ("group", g.Groups));
        }

        if (Tape.ShouldRecord(input, weight, bias))
        {
            Record(output, input, weight, bias, g);
        }

        return output;
    }

    /// <summary>
    /// Records the VJP. Without createGraph (grad mode off during backward) the requested gradients come
    /// from one fused pass over the images (<see cref="ConvPlan.Backward{T}"/>); with it, from the recorded ops
    /// ConvTranspose2d (dX) and Conv2dWeightGradient (dW), so that they can be differentiated again. Both
    /// run the same per-image kernels in the same order, so they give the same bits. The input (for dW)
    /// and the weight (for dX) are declared saved, so writing into either before backward makes it throw.
    /// </summary>
    private static void Record<T>(Tensor<T> output, Tensor<T> input, Tensor<T> weight, Tensor<T>? bias, ConvGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Tensor<T>[] inputs = bias is null ? [input, weight] : [input, weight, bias];
        var needX = input.RequiresGrad;
        var needW = weight.RequiresGrad;
        var needB = bias?.RequiresGrad == true;
        Tape.Record("Conv2d", output, inputs, (dy, grads) =>
        {
            if (Tape.ShouldRecord(dy, input, weight, bias))
            {
                if (needX)
                {
                    grads[0] = Transposed(dy, weight, null, g);
                }

                if (needW)
                {
                    grads[1] = WeightGradient(input, dy, g);
                }

                if (needB)
                {
                    // db[f] = Σ_{n, oh, ow} dY[n, f, oh, ow], summed over a contiguous dY as the fused pass does
                    // (the same bits; an expanded dY, Sum's gradient, is also much slower to reduce).
                    grads[2] = dy.Contiguous().Sum([0, 2, 3]);
                }
            }
            else
            {
                var (dX, dW, dB) = ConvPlan.Backward(input, weight, dy, g, needX, needW, needB);
                grads[0] = dX;
                grads[1] = dW;
                if (needB)
                {
                    grads[2] = dB;
                }
            }
        },
        needW ? input : null,
        needX ? weight : null);
    }

    /// <summary>
    /// Z = ConvTranspose(G, W) + b, the adjoint of conv(·, W) for the geometry <paramref name="g"/> (G has
    /// the conv's output shape [N, F, OH, OW], Z its input shape [N, C, H, W]): dcols = W_gᵀ · G_{n,g}
    /// scatter-added through the windows (col2im) into zeros, taps in the padding dropped
    /// (<see cref="ConvPlan.Transposed{T}"/>). Recorded with VJP dG = conv(dZ, W), dW = WeightGradient(dZ, G), db = Σ dZ.
    /// </summary>
    internal static Tensor<T> Transposed<T>(Tensor<T> gradOutput, Tensor<T> weight, Tensor<T>? bias, ConvGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var dX = ConvPlan.Transposed(gradOutput, weight, bias, g);
        if (Tape.ShouldRecord(gradOutput, weight, bias))
        {
            Tensor<T>[] inputs = bias is null ? [gradOutput, weight] : [gradOutput, weight, bias];
            var (needG, needW, needB) = (gradOutput.RequiresGrad, weight.RequiresGrad, bias?.RequiresGrad == true);
            Tape.Record("ConvTranspose2d", dX, inputs, (dz, grads) =>
            {
                if (needG)
                {
                    grads[0] = Forward(dz, weight, null, g);
                }

                if (needW)
                {
                    grads[1] = WeightGradient(dz, gradOutput, g);
                }

                if (needB)
                {
                    grads[2] = dz.Sum([0, 2, 3]);
                }
            },
            needG ? weight : null,
            needW ? gradOutput : null);
        }

        return dX;
    }

    /// <summary>
    /// V = WeightGradient(X, G): V_g = Σ_n G_{n,g} · cols(X)_{n,g}ᵀ, i.e. V[f, c, i, j] =
    /// Σ_{n,oh,ow} G[n, f, oh, ow]·Xpad[n, grp(f)·Cg + c, oh·sH + i·dH, ow·sW + j·dW]
    /// (<see cref="ConvPlan.WeightGradient{T}"/>). Recorded with VJP dX = ConvTranspose(G, dV), dG = conv(X, dV).
    /// </summary>
    private static Tensor<T> WeightGradient<T>(Tensor<T> input, Tensor<T> gradOutput, ConvGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = ConvPlan.WeightGradient(input, gradOutput, g);
        if (Tape.ShouldRecord(input, gradOutput))
        {
            var (needX, needG) = (input.RequiresGrad, gradOutput.RequiresGrad);
            Tape.Record("Conv2dWeightGradient", result, [input, gradOutput], (dv, grads) =>
            {
                if (needX)
                {
                    grads[0] = Transposed(gradOutput, dv, null, g);
                }

                if (needG)
                {
                    grads[1] = Forward(input, dv, null, g);
                }
            },
            needX ? gradOutput : null,
            needG ? input : null);
        }

        return result;
    }
}
