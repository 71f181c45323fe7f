using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

/// <summary>
/// 2-D cross-correlation (PyTorch's conv2d): Y[n, f, oh, ow] = b[f] +
/// Σ_{c, kh, kw} Xpad[n, g·Cg + c, oh·sH + kh·dH, ow·sW + kw·dW] · W[f, c, kh, kw], with g = f / Fg the
/// group of filter f.
/// </summary>
/// <remarks>
/// Forward: pad (a zero-padded copy), take the window view [N, C, OH, OW, KH, KW] of it
/// (<see cref="Window.View{T}"/>; stride and dilation are strides of that view), pack each image and
/// group into columns cols [Cg·KH·KW, OH·OW] and contract: Y_{n,g} = W_g · cols_{n,g} (GEMM), plus b.
/// VJP, with dY the output gradient, as three recorded ops so that it can be differentiated again:
/// <list type="bullet">
/// <item>dX = ConvTranspose2d(dY, W): dcols_{n,g} = W_gᵀ · dY_{n,g}, scatter-added through the same
/// windows into a zero padded buffer, whose interior is dX. This is the full convolution of the
/// dilated dY with the 180°-rotated kernel: the rotation and dilation are what the scatter through the
/// window strides does;</item>
/// <item>dW = WeightGradient(X, dY): dW_g = Σ_n dY_{n,g} · cols_{n,g}ᵀ (GEMM, columns rebuilt from the
/// saved padded input);</item>
/// <item>db[f] = Σ_{n, oh, ow} dY[n, f, oh, ow].</item>
/// </list>
/// The three are bilinear forms of one trilinear form B(X, dY, W) = ⟨dY, conv(X, W)⟩, so each one's
/// VJP is made of the other two: conv's partials are (ConvTranspose, WeightGradient), ConvTranspose's
/// (conv, WeightGradient), WeightGradient's (ConvTranspose, conv). Only the gradients of inputs that
/// require grad are computed.
/// </remarks>
public static class Conv2dOp
{
    // Multiply-adds per pass above which images are spread over threads.
    private const long ParallelWork = 1L << 20;

    // Images are split into at most this many fixed chunks (enough for 16 threads) whose partial dW
    // are added in chunk order: see ImageChunks.
    private const int MaxImageChunks = 16;

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

    /// <summary>
    /// Sizes of one convolution; K = Cg·KH·KW is the contraction length, P = OH·OW the output plane. OH and
    /// OW may be fewer than the windows that fit in the padded input (a transposed convolution with output
    /// padding describes its output that way); the extra windows are then left out.
    /// </summary>
    internal readonly record struct Geometry(
        int N, int C, int H, int W, int F, int Groups, int KH, int KW,
        Size2 Stride, Size2 Dilation, int PadTop, int PadBottom, int PadLeft, int PadRight, int OH, int OW)
    {
        public int Cg => C / Groups;

        public int Fg => F / Groups;

        public int K => Cg * KH * KW;

        public int P => OH * OW;

        public bool IsPadded => PadTop != 0 || PadBottom != 0 || PadLeft != 0 || PadRight != 0;

        /// <summary>Multiply-adds of one GEMM pass over the whole batch.</summary>
        public long Work => (long)N * F * K * P;

        /// <summary>Multiply-adds of one per-image, per-group product.</summary>
        public long GemmWork => (long)Fg * K * P;
    }

    private static Geometry Check<T>(Tensor<T> input, Tensor<T> weight, Tensor<T>? bias, Size2 stride, Padding2d padding, Size2 dilation, int groups)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shapes = bias is null
            ? $"(input {ShapeMath.Format(input._shape)}, weight {ShapeMath.Format(weight._shape)})"
            : $"(input {ShapeMath.Format(input._shape)}, weight {ShapeMath.Format(weight._shape)}, bias {ShapeMath.Format(bias._shape)})";
        if (input.Rank is not (3 or 4))
        {
            throw new ArgumentException($"Conv2d: input must be 4-D [N, C, H, W] or 3-D [C, H, W], got rank {input.Rank} {shapes}.", nameof(input));
        }

        if (weight.Rank != 4)
        {
            throw new ArgumentException($"Conv2d: weight must be 4-D [F, C/groups, KH, KW], got rank {weight.Rank} {shapes}.", nameof(weight));
        }

        var batched = input.Rank == 4;
        var n = batched ? input._shape[0] : 1;
        var c = input._shape[^3];
        var h = input._shape[^2];
        var w = input._shape[^1];
        var (f, cg, kh, kw) = (weight._shape[0], weight._shape[1], weight._shape[2], weight._shape[3]);
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

        if (bias is not null && (bias.Rank != 1 || bias._shape[0] != f))
        {
            throw new ArgumentException($"Conv2d: bias must have shape [{f}] (one per filter), got {ShapeMath.Format(bias._shape)} {shapes}.", nameof(bias));
        }

        var kernel = new Size2(kh, kw);
        var (top, bottom, left, right) = padding.Resolve(kernel, stride, dilation, "Conv2d", shapes);
        var (paddedH, paddedW) = ((long)h + top + bottom, (long)w + left + right);
        if ((top | bottom | left | right) != 0 && (double)n * c * paddedH * paddedW > int.MaxValue)
        {
            // The padded copy is materialised: refuse sizes whose element count does not fit an int.
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

        return new Geometry(n, c, h, w, f, groups, kh, kw, stride, dilation, top, bottom, left, right, oh, ow);
    }

    /// <summary>The window view of a padded input, limited to the geometry's OH × OW windows.</summary>
    private static Tensor<T> Windows<T>(Tensor<T> padded, Geometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var windows = Window.View(padded, new Size2(g.KH, g.KW), g.Stride, g.Dilation);
        return windows._shape[2] == g.OH && windows._shape[3] == g.OW
            ? windows
            : windows.ViewOf([windows._shape[0], windows._shape[1], g.OH, g.OW, g.KH, g.KW], windows._strides, windows._offset);
    }

    private static Tensor<T> Pad<T>(Tensor<T> input, Geometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
        => g.IsPadded ? Window.Pad(input, g.PadTop, g.PadBottom, g.PadLeft, g.PadRight, T.Zero) : input;

    /// <summary>Y = conv(X, W) + b for a batched input; recorded, with the VJP described on the class.</summary>
    private static Tensor<T> Forward<T>(Tensor<T> input, Tensor<T> weight, Tensor<T>? bias, Geometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Xpad and its windows [N, C, OH, OW, KH, KW]; without padding the windows are a view of the input itself.
        var padded = Pad(input, g);
        var windows = Windows(padded, g);
        var (w, wOffset) = weight.Dense();
        var (fg, k, p) = (g.Fg, g.K, g.P);
        var y = GC.AllocateUninitializedArray<T>(g.N * g.F * p);   // every element is written by a GEMM

        // Y_{n,g} = W_g · cols_{n,g}: W_g is the [Fg, K] block of the row-major weight, cols_{n,g}
        // the packed windows (or the windows themselves when they already form a matrix).
        ForEachImage(
            g,
            () => ArrayPool<T>.Shared.Rent(k * p),
            (n, _, cols) =>
            {
                for (var group = 0; group < g.Groups; group++)
                {
                    var (c, cAt, cRow, cCol) = Window.Columns(windows, n, group * g.Cg, g.Cg, cols);
                    Gemm.Multiply(
                        fg, p, k,
                        w, wOffset + group * fg * k, k, 1,
                        c, cAt, cRow, cCol,
                        y, (n * g.F + group * fg) * p, p,
                        accumulate: false);
                }
            },
            cols => ArrayPool<T>.Shared.Return(cols));

        AddBias(y, 0, bias, g.N, g.F, p);
        var output = new Tensor<T>(y, [g.N, g.F, g.OH, g.OW]);
        if (Tape.ShouldRecord(input, weight, bias))
        {
            Record(output, input, weight, bias, padded, w, wOffset, g);
        }

        return output;
    }

    /// <summary>
    /// Records the VJP. dW needs the columns, rebuilt from Xpad; dX needs only W: the closure keeps
    /// just what the requested gradients read (and lives in its own method so that it captures nothing else).
    /// The input (for dW) and the weight (for dX) are declared saved, so writing into either before
    /// backward makes it throw, as PyTorch does, whether or not the forward happened to copy them.
    /// </summary>
    private static void Record<T>(Tensor<T> output, Tensor<T> input, Tensor<T> weight, Tensor<T>? bias, Tensor<T> padded, ReadOnlyMemory<T> w, int wOffset, Geometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Tensor<T>[] inputs = bias is null ? [input, weight] : [input, weight, bias];
        var needX = input.RequiresGrad;
        var needW = weight.RequiresGrad;
        var needB = bias?.RequiresGrad == true;
        var savedPadded = needW ? padded : null;
        var savedWeight = needX ? w : null;
        Tape.Record("Conv2d", output, inputs, (dy, grads) =>
        {
            if (needX)
            {
                grads[0] = Transposed(dy, weight, null, g, (savedWeight!, wOffset));
            }

            if (needW)
            {
                grads[1] = WeightGradient(input, dy, g, savedPadded);
            }

            if (needB)
            {
                // db[f] = Σ_{n, oh, ow} dY[n, f, oh, ow]
                grads[2] = dy.Sum([0, 2, 3]);
            }
        },
        needW ? input : null,
        needX ? weight : null);
    }

    /// <summary>
    /// Z = ConvTranspose(G, W) + b, the adjoint of conv(·, W) for the geometry <paramref name="g"/> (G has
    /// the conv's output shape [N, F, OH, OW], Z its input shape [N, C, H, W]): dcols = W_gᵀ · G_{n,g}
    /// scatter-added through the windows (col2im), then cropped. Recorded with VJP dG = conv(dZ, W),
    /// dW = WeightGradient(dZ, G), db = Σ dZ.
    /// </summary>
    internal static Tensor<T> Transposed<T>(Tensor<T> gradOutput, Tensor<T> weight, Tensor<T>? bias, Geometry g, (ReadOnlyMemory<T> Data, int Offset)? denseWeight = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (dy, dyOffset) = gradOutput.Dense();
        var (w, wOffset) = denseWeight ?? weight.Dense();
        var (fg, k, p) = (g.Fg, g.K, g.P);

        // dX is accumulated into a zero padded buffer through the windows, then cropped.
        int[] paddedShape = [g.N, g.C, g.H + g.PadTop + g.PadBottom, g.W + g.PadLeft + g.PadRight];
        var dPadded = new Tensor<T>(new T[ShapeMath.Numel(paddedShape)], paddedShape);
        var dWindows = Windows(dPadded, g);
        ForEachImage(
            g,
            () => ArrayPool<T>.Shared.Rent(k * p),
            (n, _, dcols) =>
            {
                for (var group = 0; group < g.Groups; group++)
                {
                    // dcols_{n,g} = W_gᵀ · dY_{n,g}: [K, Fg] · [Fg, P]; W_gᵀ is W_g read with swapped strides.
                    Gemm.Multiply(
                        k, p, fg,
                        w, wOffset + group * fg * k, 1, k,
                        dy, dyOffset + (n * g.F + group * fg) * p, p, 1,
                        dcols, 0, p,
                        accumulate: false);

                    // col2im: Xpad windows += dcols; overlapping windows add up.
                    Window.ScatterAdd(dWindows, n, group * g.Cg, g.Cg, dcols, 0);
                }
            },
            dcols => ArrayPool<T>.Shared.Return(dcols));

        var dX = g.IsPadded ? Window.Interior(dPadded, g.PadTop, g.PadLeft, g.H, g.W).Contiguous() : dPadded;
        if (bias is not null)
        {
            // dX is contiguous: a fresh crop, or the interior view itself when that already is contiguous.
            AddBias(dX._storage.Span, dX._offset, bias, g.N, g.C, g.H * g.W);
        }

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
                    grads[1] = WeightGradient(dz, gradOutput, g, null);
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
    /// Σ_{n,oh,ow} G[n, f, oh, ow]·Xpad[n, grp(f)·Cg + c, oh·sH + i·dH, ow·sW + j·dW]. Recorded with VJP
    /// dX = ConvTranspose(G, dV), dG = conv(X, dV). <paramref name="padded"/> is X's padded copy when the
    /// forward pass kept one.
    /// </summary>
    private static Tensor<T> WeightGradient<T>(Tensor<T> input, Tensor<T> gradOutput, Geometry g, Tensor<T>? padded)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (dy, dyOffset) = gradOutput.Dense();
        var (fg, k, p) = (g.Fg, g.K, g.P);
        var windows = Windows(padded ?? Pad(input, g), g);
        var dw = new T[g.F * k];

        // dW is a sum over images. For bits that do not depend on thread timing or thread count, each
        // fixed chunk of images sums into its own partial (chunk 0 straight into dW), and the partials
        // are added to dW in chunk order, whether the chunks ran in parallel or one after another.
        var partials = new T[]?[ImageChunks(g)];
        ForEachImage(
            g,
            () => ArrayPool<T>.Shared.Rent(k * p),
            (n, chunk, cols) =>
            {
                var partial = partials[chunk] ??= chunk == 0 ? dw : RentCleared<T>(dw.Length);
                for (var group = 0; group < g.Groups; group++)
                {
                    // dW_g += dY_{n,g} · cols_{n,g}ᵀ: [Fg, P] · [P, K]; colsᵀ is cols read with swapped strides.
                    var (c, cAt, cRow, cCol) = Window.Columns(windows, n, group * g.Cg, g.Cg, cols);
                    Gemm.Multiply(
                        fg, k, p,
                        dy, dyOffset + (n * g.F + group * fg) * p, p, 1,
                        c, cAt, cCol, cRow,
                        partial, group * fg * k, k,
                        accumulate: true);
                }
            },
            cols => ArrayPool<T>.Shared.Return(cols),
            chunk =>
            {
                if (chunk > 0 && partials[chunk] is { } partial)
                {
                    TP.Add(dw, partial.AsSpan(0, dw.Length), dw);
                    ArrayPool<T>.Shared.Return(partial);
                    partials[chunk] = null;
                }
            });

        var result = new Tensor<T>(dw, [g.F, g.Cg, g.KH, g.KW]);
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

    /// <summary>y[offset + (n·channels + c)·plane ..] += bias[c], the bias of one output plane per channel.</summary>
    private static void AddBias<T>(Span<T> y, int offset, Tensor<T>? bias, int n, int channels, int plane)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (bias is null)
        {
            return;
        }

        var b = bias.ToArray();
        for (var i = 0; i < n; i++)
        {
            for (var c = 0; c < channels; c++)
            {
                var row = y.Slice(offset + (i * channels + c) * plane, plane);
                TP.Add(row, b[c], row);
            }
        }
    }

    /// <summary>A pooled buffer of at least <paramref name="length"/> elements, the first <paramref name="length"/> zero.</summary>
    private static T[] RentCleared<T>(int length)
    {
        var buffer = ArrayPool<T>.Shared.Rent(length);
        buffer.AsSpan(0, length).Clear();
        return buffer;
    }

    /// <summary>
    /// How many chunks of consecutive images a pass is split into: a function of the batch size only,
    /// never of the thread count, so that sums over images are associated the same way on any machine.
    /// </summary>
    private static int ImageChunks(Geometry g) => Math.Min(g.N, MaxImageChunks);

    /// <summary>
    /// Runs <paramref name="body"/>(n, chunk, scratch) for every image, chunk by chunk (fixed chunks of
    /// consecutive images, <see cref="ImageChunks"/>), each worker with its own scratch from
    /// <paramref name="init"/>; chunks are spread over threads when the batch is large enough to pay for
    /// them and each product is small enough that Gemm keeps it on one thread (no nested parallelism).
    /// <paramref name="merge"/>(chunk) runs for every chunk in chunk order once that chunk is done (after
    /// all of them when they ran in parallel), so partial results combine in a fixed order.
    /// </summary>
    private static void ForEachImage<TLocal>(Geometry g, Func<TLocal> init, Action<int, int, TLocal> body, Action<TLocal> finish, Action<int>? merge = null)
    {
        var chunks = ImageChunks(g);
        void RunChunk(int chunk, TLocal local)
        {
            var end = (int)((long)g.N * (chunk + 1) / chunks);
            for (var n = (int)((long)g.N * chunk / chunks); n < end; n++)
            {
                body(n, chunk, local);
            }
        }

        if (chunks > 1 && Gemm.MaxThreads > 1 && g.Work >= ParallelWork && Gemm.Workers(g.GemmWork) < 2)
        {
            Parallel.For(
                0,
                chunks,
                init,
                (chunk, _, local) =>
                {
                    RunChunk(chunk, local);
                    return local;
                },
                finish);
            for (var chunk = 0; chunk < chunks; chunk++)
            {
                merge?.Invoke(chunk);
            }

            return;
        }

        var scratch = init();
        try
        {
            for (var chunk = 0; chunk < chunks; chunk++)
            {
                RunChunk(chunk, scratch);
                merge?.Invoke(chunk);
            }
        }
        finally
        {
            finish(scratch);
        }
    }
}
