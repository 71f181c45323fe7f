using System.Buffers;
using System.Numerics;
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
/// VJP, with dY the output gradient:
/// <list type="bullet">
/// <item>dW_g = Σ_n dY_{n,g} · cols_{n,g}ᵀ (GEMM, columns rebuilt from the saved padded input);</item>
/// <item>dcols_{n,g} = W_gᵀ · dY_{n,g}, scatter-added through the same windows into a zero padded
/// buffer, whose interior is dX. This is the full convolution of the dilated dY with the 180°-rotated
/// kernel: the rotation and dilation are what the scatter through the window strides does;</item>
/// <item>db[f] = Σ_{n, oh, ow} dY[n, f, oh, ow].</item>
/// </list>
/// Only the gradients of inputs that require grad are computed.
/// </remarks>
public static class Conv2dOp
{
    // Multiply-adds per pass above which images are spread over threads.
    private const long ParallelWork = 1L << 20;

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
        public Tensor<T> Conv2d(Tensor<T> weight, Tensor<T>? bias = null, Size2? stride = null, Padding2d? padding = null, Size2? dilation = null, int groups = 1)
        {
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

    /// <summary>Sizes of one convolution; K = Cg·KH·KW is the contraction length, P = OH·OW the output plane.</summary>
    private readonly record struct Geometry(
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

    private static Tensor<T> Forward<T>(Tensor<T> input, Tensor<T> weight, Tensor<T>? bias, Geometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Xpad and its windows [N, C, OH, OW, KH, KW]; without padding the windows are a view of the input itself.
        var padded = g.IsPadded ? Window.Pad(input, g.PadTop, g.PadBottom, g.PadLeft, g.PadRight, T.Zero) : input;
        var windows = Window.View(padded, new Size2(g.KH, g.KW), g.Stride, g.Dilation);
        var (w, wOffset) = Dense(weight);
        var b = bias?.ToArray();
        var (fg, k, p) = (g.Fg, g.K, g.P);
        var y = GC.AllocateUninitializedArray<T>(g.N * g.F * p);   // every element is written by a GEMM

        // Y_{n,g} = W_g · cols_{n,g} + b: W_g is the [Fg, K] block of the row-major weight, cols_{n,g}
        // the packed windows (or the windows themselves when they already form a matrix).
        ForEachImage(
            g,
            () => ArrayPool<T>.Shared.Rent(k * p),
            (n, cols) =>
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

                if (b is not null)
                {
                    for (var f = 0; f < g.F; f++)
                    {
                        var row = y.AsSpan((n * g.F + f) * p, p);
                        TP.Add(row, b[f], row);
                    }
                }
            },
            cols => ArrayPool<T>.Shared.Return(cols));

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
    private static void Record<T>(Tensor<T> output, Tensor<T> input, Tensor<T> weight, Tensor<T>? bias, Tensor<T> padded, T[] w, int wOffset, Geometry g)
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
            var (dX, dW, db) = Backward(dy, savedPadded, savedWeight, wOffset, g, needX, needW, needB);
            grads[0] = dX;
            grads[1] = dW;
            if (grads.Length > 2)
            {
                grads[2] = db;
            }
        },
        needW ? input : null,
        needX ? weight : null);
    }

    private static (Tensor<T>? DX, Tensor<T>? DW, Tensor<T>? DB) Backward<T>(
        Tensor<T> gradOutput, Tensor<T>? padded, T[]? w, int wOffset, Geometry g, bool needX, bool needW, bool needB)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (dy, dyOffset) = Dense(gradOutput);
        var (fg, k, p) = (g.Fg, g.K, g.P);

        Tensor<T>? db = null;
        if (needB)
        {
            // db[f] = Σ_{n, oh, ow} dY[n, f, oh, ow]
            var sums = new T[g.F];
            for (var n = 0; n < g.N; n++)
            {
                for (var f = 0; f < g.F; f++)
                {
                    sums[f] += TP.Sum<T>(dy.AsSpan(dyOffset + (n * g.F + f) * p, p));
                }
            }

            db = new Tensor<T>(sums, [g.F]);
        }

        if (!needX && !needW)
        {
            return (null, null, db);
        }

        var kernel = new Size2(g.KH, g.KW);
        var windows = needW ? Window.View(padded!, kernel, g.Stride, g.Dilation) : null;

        // dX is accumulated into a zero padded buffer through the windows, then cropped.
        int[] paddedShape = [g.N, g.C, g.H + g.PadTop + g.PadBottom, g.W + g.PadLeft + g.PadRight];
        var dPadded = needX ? new Tensor<T>(new T[ShapeMath.Numel(paddedShape)], paddedShape) : null;
        var dWindows = dPadded is null ? null : Window.View(dPadded, kernel, g.Stride, g.Dilation);
        var dw = needW ? new T[g.F * k] : null;
        var dwLock = new Lock();

        ForEachImage(
            g,
            () => new Scratch<T>(needW ? ArrayPool<T>.Shared.Rent(k * p) : null, needX ? ArrayPool<T>.Shared.Rent(k * p) : null, needW ? new T[g.F * k] : null),
            (n, s) =>
            {
                for (var group = 0; group < g.Groups; group++)
                {
                    var dyAt = dyOffset + (n * g.F + group * fg) * p;
                    if (needW)
                    {
                        // dW_g += dY_{n,g} · cols_{n,g}ᵀ: [Fg, P] · [P, K]; colsᵀ is cols read with swapped strides.
                        var (c, cAt, cRow, cCol) = Window.Columns(windows!, n, group * g.Cg, g.Cg, s.Cols!);
                        Gemm.Multiply(
                            fg, k, p,
                            dy, dyAt, p, 1,
                            c, cAt, cCol, cRow,
                            s.DW!, group * fg * k, k,
                            accumulate: true);
                    }

                    if (needX)
                    {
                        // dcols_{n,g} = W_gᵀ · dY_{n,g}: [K, Fg] · [Fg, P]; W_gᵀ is W_g read with swapped strides.
                        Gemm.Multiply(
                            k, p, fg,
                            w!, wOffset + group * fg * k, 1, k,
                            dy, dyAt, p, 1,
                            s.DCols!, 0, p,
                            accumulate: false);

                        // col2im: Xpad windows += dcols; overlapping windows add up.
                        Window.ScatterAdd(dWindows!, n, group * g.Cg, g.Cg, s.DCols!, 0);
                    }
                }
            },
            s =>
            {
                if (s.DW is not null)
                {
                    lock (dwLock)
                    {
                        TP.Add(dw!, s.DW, dw);
                    }
                }

                s.Return();
            });

        Tensor<T>? dX = null;
        if (dPadded is not null)
        {
            dX = g.IsPadded
                ? Window.Interior(dPadded, g.PadTop, g.PadLeft, g.H, g.W).Contiguous()
                : dPadded;
        }

        var dW = dw is null ? null : new Tensor<T>(dw, [g.F, g.Cg, g.KH, g.KW]);
        return (dX, dW, db);
    }

    /// <summary>Per-worker buffers of the backward pass: columns, their gradient and a private dW to sum at the end.</summary>
    private sealed record Scratch<T>(T[]? Cols, T[]? DCols, T[]? DW)
    {
        public void Return()
        {
            if (Cols is not null)
            {
                ArrayPool<T>.Shared.Return(Cols);
            }

            if (DCols is not null)
            {
                ArrayPool<T>.Shared.Return(DCols);
            }
        }
    }

    /// <summary>The row-major elements of <paramref name="t"/>: its own buffer and offset when contiguous, else a copy.</summary>
    private static (T[] Data, int Offset) Dense<T>(Tensor<T> t)
        where T : unmanaged, IFloatingPointIeee754<T>
        => t.IsContiguous ? (t._storage._data, t._offset) : (t.ToArray(), 0);

    /// <summary>
    /// Runs <paramref name="body"/> for every image, each worker with its own scratch from
    /// <paramref name="init"/>; spread over threads when the batch is large enough to pay for them
    /// and each product is small enough that Gemm keeps it on one thread (no nested parallelism).
    /// </summary>
    private static void ForEachImage<TLocal>(Geometry g, Func<TLocal> init, Action<int, TLocal> body, Action<TLocal> finish)
    {
        if (g.N > 1 && Gemm.MaxThreads > 1 && g.Work >= ParallelWork && Gemm.Workers(g.GemmWork) < 2)
        {
            Parallel.For(
                0,
                g.N,
                init,
                (n, _, local) =>
                {
                    body(n, local);
                    return local;
                },
                finish);
            return;
        }

        var scratch = init();
        try
        {
            for (var n = 0; n < g.N; n++)
            {
                body(n, scratch);
            }
        }
        finally
        {
            finish(scratch);
        }
    }
}
