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
/// </remarks>
public static class Conv2dExtensions
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
    /// Y = conv(X, W) + b for a batched input; recorded, with the VJP described on the class. The
    /// output comes from the pool; every element is written by a GEMM.
    /// </summary>
    private static Tensor<T> Forward<T>(Tensor<T> input, Tensor<T> weight, Tensor<T>? bias, ConvGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var output = Tensor<T>.Uninitialized([g.N, g.F, g.OH, g.OW]);
        var dense = Dense(weight);
        using var w = new Filters<T>(dense.Storage.Memory, dense.Offset, g, transposed: false);
        var b = bias?.ToArray();
        var y = output.Storage.Memory;
        var windows = DirectWindows(input, g);
        var batch = Batch<T>(g, windows is null);
        ForEachImage(
            g,
            batch,
            () => ArrayPool<T>.Shared.Rent(ScratchLength<T>(g, batch)),
            (n0, count, _, cols) => ForwardImages(input, windows, w, b, y, g, n0, count, cols),
            cols => ArrayPool<T>.Shared.Return(cols));
        GC.KeepAlive(input);
        GC.KeepAlive(dense);

        if (Tape.ShouldRecord(input, weight, bias))
        {
            Record(output, input, weight, bias, g);
        }

        return output;
    }

    /// <summary>
    /// The window view [N, C, OH, OW, KH, KW] of an unpadded input when its columns are the view itself
    /// (a 1×1 kernel at stride 1 over a contiguous input: im2col is the identity), else null: the
    /// columns are then packed block by block, padding supplied while packing.
    /// </summary>
    private static Tensor<T>? DirectWindows<T>(Tensor<T> x, ConvGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (g.IsPadded)
        {
            return null;
        }

        var windows = Window.View(x, new Size2(g.KH, g.KW), g.Stride, g.Dilation);
        if (windows.ShapeArray[2] != g.OH || windows.ShapeArray[3] != g.OW)
        {
            windows = windows.ViewOf([windows.ShapeArray[0], windows.ShapeArray[1], g.OH, g.OW, g.KH, g.KW], windows.StridesArray, windows.Offset);
        }

        return Window.TryColumns(windows, 0, 0, g.C, out _) ? windows : null;
    }

    /// <summary>
    /// The columns of image n, group <paramref name="group"/>, output positions [p0, p0 + count) as a
    /// GEMM operand cols[row, j] = data[offset + row·RowStride + j·ColStride]: the window view itself
    /// (<see cref="DirectWindows{T}"/>), else packed into <paramref name="scratch"/>.
    /// </summary>
    private static (ReadOnlyMemory<T> Data, int Offset, int RowStride, int ColStride) Columns<T>(
        Tensor<T> x, Tensor<T>? windows, ConvGeometry g, int n, int group, int p0, int count, T[] scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (windows is not null && Window.TryColumns(windows, n, group * g.Cg, g.Cg, out var view))
        {
            return (view.Data, view.Offset + p0 * view.ColStride, view.RowStride, view.ColStride);
        }

        var s = x.StridesArray;
        ConvColumns.Pack<T>(x.Storage.Span, x.Offset + n * s[0] + group * g.Cg * s[1], s[1], s[2], s[3], g, p0, count, scratch);
        return (scratch, 0, count, 1);
    }

    /// <summary>
    /// How many consecutive images of a chunk one call handles: on wide rows (<see cref="WideConv"/>) the
    /// whole chunk, so dW's transposed partial is summed over it before it is added; on the Gemm path over
    /// packed columns, the images that run side by side in one product (<see cref="ConvColumns.BatchImages"/>;
    /// not the shallow K ≤ 32 kernel, not the direct 1×1 windows). A function of the geometry alone, so
    /// the fused and the recorded backward batch alike.
    /// </summary>
    private static int Batch<T>(ConvGeometry g, bool packed)
        where T : unmanaged, IFloatingPointIeee754<T>
        => packed && WideConv.Applies<T>(g) ? g.N
            : packed && !ShallowGemm.Applies<T>(g.K) ? ConvColumns.BatchImages(g) : 1;

    /// <summary>Scratch per worker: one block of columns, or for a batch two wide [K, m·P] buffers and a wide [Fg, m·P] one.</summary>
    private static int ScratchLength<T>(ConvGeometry g, int batch)
        where T : unmanaged
    {
        var length = WideConv.Applies<T>(g) ? Math.Max(WideConv.ScratchLength<T>(g), g.K * ConvColumns.BlockWidth(g))
            : batch > 1 ? (2 * g.K + g.Fg) * batch * g.P
            : g.K * ConvColumns.BlockWidth(g);
        return Winograd.Applies<T>(g)
            ? Math.Max(length, Math.Max(Winograd.ScratchLength<T>(Winograd.Shape.Forward(g)), Winograd.ScratchLength<T>(Winograd.Shape.Adjoint(g))))
            : length;
    }

    /// <summary>
    /// cols of images [n0, n0 + count), group <paramref name="group"/>, side by side as a row-major
    /// [K, count·P] at wide[0..]: each image packed into <paramref name="packed"/> then copied row by row.
    /// </summary>
    private static void PackWide<T>(Tensor<T> x, ConvGeometry g, int n0, int count, int group, Span<T> packed, Span<T> wide)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (k, p) = (g.K, g.P);
        var s = x.StridesArray;
        var stride = count * p;
        for (var i = 0; i < count; i++)
        {
            ConvColumns.Pack<T>(x.Storage.Span, x.Offset + (n0 + i) * s[0] + group * g.Cg * s[1], s[1], s[2], s[3], g, 0, p, packed);
            for (var r = 0; r < k; r++)
            {
                packed.Slice(r * p, p).CopyTo(wide.Slice(r * stride + i * p, p));
            }
        }
    }

    /// <summary>dY of images [n0, n0 + count), group <paramref name="group"/>, gathered as a row-major [Fg, count·P].</summary>
    private static void GatherWide<T>(ReadOnlySpan<T> dy, int dyOffset, ConvGeometry g, int n0, int count, int group, Span<T> wide)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (fg, p) = (g.Fg, g.P);
        var stride = count * p;
        for (var i = 0; i < count; i++)
        {
            for (var f = 0; f < fg; f++)
            {
                dy.Slice(dyOffset + ((n0 + i) * g.F + group * fg + f) * p, p).CopyTo(wide.Slice(f * stride + i * p, p));
            }
        }
    }

    /// <summary>
    /// Y for images [n0, n0 + count): one image at a time, or (count &gt; 1, small P) one product per group
    /// W_g · [cols_{n0,g} … cols_{n0+count−1,g}] into scratch, each image's [Fg, P] slice copied into Y, then + b.
    /// </summary>
    private static void ForwardImages<T>(Tensor<T> x, Tensor<T>? windows, Filters<T> w, T[]? b, Memory<T> y, ConvGeometry g, int n0, int count, T[] scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (count == 1 || (windows is null && (WideConv.Applies<T>(g) || Winograd.Applies<T>(g))))
        {
            for (var n = n0; n < n0 + count; n++)
            {
                ForwardImage(x, windows, w, b, y, g, n, scratch);
            }

            return;
        }

        var (fg, k, p) = (g.Fg, g.K, g.P);
        var wide = count * p;
        var colsAt = k * wide;
        var outAt = 2 * k * wide;
        for (var group = 0; group < g.Groups; group++)
        {
            PackWide(x, g, n0, count, group, scratch.AsSpan(0, k * p), scratch.AsSpan(colsAt, k * wide));
            Gemm.Multiply(
                w.Packed(group), wide,
                scratch, colsAt, wide, 1,
                scratch, outAt, wide,
                accumulate: false);
            var ys = y.Span;
            for (var i = 0; i < count; i++)
            {
                for (var f = 0; f < fg; f++)
                {
                    scratch.AsSpan(outAt + f * wide + i * p, p).CopyTo(ys.Slice(((n0 + i) * g.F + group * fg + f) * p, p));
                }
            }
        }

        if (b is not null)
        {
            AddBias(y.Span, n0 * g.F * p, b, count, g.F, p);
        }
    }

    /// <summary>
    /// dW += the images [n0, n0 + count): one at a time, or (count &gt; 1) one product per group
    /// [dY_{n0,g} … ] · [cols_{n0,g} … ]ᵀ ([Fg, count·P] · [count·P, K]) accumulated into <paramref name="dw"/>.
    /// </summary>
    private static void WeightGradientImages<T>(Tensor<T> x, Tensor<T>? windows, ReadOnlyMemory<T> dy, int dyOffset, Memory<T> dw, ConvGeometry g, int n0, int count, T[] scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (windows is null && WideConv.Applies<T>(g))
        {
            WideConv.WeightGradient(x, dy.Span, dyOffset, dw.Span, g, n0, count, scratch);
            return;
        }

        if (count == 1)
        {
            WeightGradientImage(x, windows, dy, dyOffset, dw, g, n0, scratch);
            return;
        }

        var (fg, k, p) = (g.Fg, g.K, g.P);
        var wide = count * p;
        var colsAt = k * wide;
        var dyAt = 2 * k * wide;
        for (var group = 0; group < g.Groups; group++)
        {
            PackWide(x, g, n0, count, group, scratch.AsSpan(0, k * p), scratch.AsSpan(colsAt, k * wide));
            GatherWide(dy.Span, dyOffset, g, n0, count, group, scratch.AsSpan(dyAt, fg * wide));
            Gemm.Multiply(
                fg, k, wide,
                scratch, dyAt, wide, 1,
                scratch, colsAt, 1, wide,
                dw, group * fg * k, k,
                accumulate: true);
        }
    }

    /// <summary>
    /// dX of the images [n0, n0 + count): one at a time, or (count &gt; 1, the Gemm path: Fg above the
    /// shallow kernel's depth) one product per group dcols = W_gᵀ · [dY_{n0,g} … ] ([K, count·P]), each
    /// image's [K, P] slice then scatter-added through the windows.
    /// </summary>
    private static void InputGradientImages<T>(Filters<T> w, ReadOnlyMemory<T> dy, int dyOffset, Memory<T> dx, ConvGeometry g, int n0, int count, T[] scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var imageSize = g.C * g.H * g.W;
        if (Winograd.Applies<T>(g))
        {
            // The full convolution of dY with the turned filters: every element of dX written.
            var shape = Winograd.Shape.Adjoint(g);
            var filters = w.Winograd();
            for (var n = n0; n < n0 + count; n++)
            {
                for (var group = 0; group < g.Groups; group++)
                {
                    Winograd.Convolve(filters, group, shape, dy.Span, dyOffset + (n * g.F + group * g.Fg) * g.P, g.P, g.OW, 1, dx.Span, n * imageSize + group * g.Cg * g.H * g.W, scratch);
                }
            }

            return;
        }

        // dX comes uninitialised: each run of images clears its own planes just before it adds into them,
        // while they are about to be in cache, instead of one pass over the whole gradient up front.
        dx.Span.Slice(n0 * imageSize, count * imageSize).Clear();
        if (WideConv.Applies<T>(g))
        {
            WideConv.InputGradient(w.Memory.Span, w.Offset, dy.Span, dyOffset, dx.Span, g, n0, count, scratch);
            return;
        }

        if (count == 1 || ShallowGemm.Applies<T>(g.Fg))
        {
            for (var n = n0; n < n0 + count; n++)
            {
                InputGradientImage(w, dy, dyOffset, dx, g, n, scratch);
            }

            return;
        }

        var (fg, k, p) = (g.Fg, g.K, g.P);
        var wide = count * p;
        var plane = g.H * g.W;
        var dcolsAt = k * wide;
        var dyAt = 2 * k * wide;
        for (var group = 0; group < g.Groups; group++)
        {
            GatherWide(dy.Span, dyOffset, g, n0, count, group, scratch.AsSpan(dyAt, fg * wide));
            Gemm.Multiply(
                w.Packed(group), wide,
                scratch, dyAt, wide, 1,
                scratch, dcolsAt, wide,
                accumulate: false);
            var slice = scratch.AsSpan(0, k * p);
            for (var i = 0; i < count; i++)
            {
                for (var r = 0; r < k; r++)
                {
                    scratch.AsSpan(dcolsAt + r * wide + i * p, p).CopyTo(slice.Slice(r * p, p));
                }

                ConvColumns.ScatterAdd<T>(dx.Span, ((n0 + i) * g.C + group * g.Cg) * plane, plane, g.W, 1, g, 0, p, slice);
            }
        }
    }

    /// <summary>Y_n = W_g · cols_{n,g} for every group, block by block of output positions, then + b.</summary>
    private static void ForwardImage<T>(Tensor<T> x, Tensor<T>? windows, Filters<T> w, T[]? b, Memory<T> y, ConvGeometry g, int n, T[] cols)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (windows is null && Winograd.Applies<T>(g))
        {
            var filters = w.Winograd();
            var s = x.StridesArray;
            for (var group = 0; group < g.Groups; group++)
            {
                Winograd.Convolve(filters, group, Winograd.Shape.Forward(g), x.Storage.Span, x.Offset + n * s[0] + group * g.Cg * s[1], s[1], s[2], s[3], y.Span, (n * g.F + group * g.Fg) * g.P, cols);
            }

            if (b is not null)
            {
                AddBias(y.Span, n * g.F * g.P, b, 1, g.F, g.P);
            }

            return;
        }

        if (windows is null && WideConv.Applies<T>(g))
        {
            WideConv.Forward(x, w.Memory.Span, w.Offset, b, y.Span, g, n, cols);
            return;
        }

        var (fg, k, p) = (g.Fg, g.K, g.P);
        var width = ConvColumns.BlockWidth(g);

        // Few input channels (K ≤ 32): the shallow kernel reads the packed columns where they lie and adds the bias.
        var shallow = windows is null && ShallowGemm.Applies<T>(k);
        for (var group = 0; group < g.Groups; group++)
        {
            for (var p0 = 0; p0 < p; p0 += width)
            {
                var count = Math.Min(width, p - p0);
                var (c, cAt, cRow, cCol) = Columns(x, windows, g, n, group, p0, count, cols);
                var yAt = (n * g.F + group * fg) * p + p0;
                if (shallow)
                {
                    ShallowGemm.Multiply<T>(
                        fg, count, k,
                        w.Memory.Span[(w.Offset + group * fg * k)..], k, 1,
                        cols, count,
                        y.Span[yAt..], p,
                        b is null ? default : b.AsSpan(group * fg, fg));
                    continue;
                }

                Gemm.Multiply(
                    w.Packed(group), count,
                    c, cAt, cRow, cCol,
                    y, yAt, p,
                    accumulate: false);
            }
        }

        if (b is not null && !shallow)
        {
            // Added while the image's planes are still in cache.
            AddBias(y.Span, n * g.F * p, b, 1, g.F, p);
        }
    }

    /// <summary>
    /// dW_g += Σ_blocks dY_{n,g}[:, block] · cols_{n,g}[:, block]ᵀ: [Fg, count] · [count, K], colsᵀ read
    /// with swapped strides, into <paramref name="dw"/> ([F, K] row-major).
    /// </summary>
    private static void WeightGradientImage<T>(Tensor<T> x, Tensor<T>? windows, ReadOnlyMemory<T> dy, int dyOffset, Memory<T> dw, ConvGeometry g, int n, T[] cols)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (fg, k, p) = (g.Fg, g.K, g.P);
        var width = ConvColumns.BlockWidth(g);
        for (var group = 0; group < g.Groups; group++)
        {
            for (var p0 = 0; p0 < p; p0 += width)
            {
                var count = Math.Min(width, p - p0);
                var (c, cAt, cRow, cCol) = Columns(x, windows, g, n, group, p0, count, cols);
                if (windows is null && ShallowGemm.Applies<T>(k))
                {
                    // Few columns rows (K ≤ 32): Fg·K dot products over the block; Gemm would pack colsᵀ
                    // a scalar at a time for so few lines.
                    var dyRows = dy.Span;
                    var target = dw.Span;
                    for (var f = 0; f < fg; f++)
                    {
                        var dyRow = dyRows.Slice(dyOffset + (n * g.F + group * fg + f) * p + p0, count);
                        for (var r = 0; r < k; r++)
                        {
                            target[(group * fg + f) * k + r] += TP.Dot<T>(dyRow, cols.AsSpan(r * count, count));
                        }
                    }

                    continue;
                }

                Gemm.Multiply(
                    fg, k, count,
                    dy, dyOffset + (n * g.F + group * fg) * p + p0, p, 1,
                    c, cAt, cCol, cRow,
                    dw, group * fg * k, k,
                    accumulate: true);
            }
        }
    }

    /// <summary>
    /// dX_n += col2im(W_gᵀ · dY_{n,g}) for every group, block by block: dcols = W_gᵀ · dY_{n,g}[:, block]
    /// ([K, Fg] · [Fg, count], W_gᵀ read with swapped strides), scatter-added through the windows into the
    /// dense [N, C, H, W] <paramref name="dx"/>, taps in the padding dropped.
    /// </summary>
    private static void InputGradientImage<T>(Filters<T> w, ReadOnlyMemory<T> dy, int dyOffset, Memory<T> dx, ConvGeometry g, int n, T[] dcols)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (fg, k, p) = (g.Fg, g.K, g.P);
        var width = ConvColumns.BlockWidth(g);
        var plane = g.H * g.W;
        for (var group = 0; group < g.Groups; group++)
        {
            for (var p0 = 0; p0 < p; p0 += width)
            {
                var count = Math.Min(width, p - p0);
                var dyAt = dyOffset + (n * g.F + group * fg) * p + p0;
                if (ShallowGemm.Applies<T>(fg))
                {
                    // Few filters: a shallow product, B (dY's rows) read where it lies.
                    ShallowGemm.Multiply<T>(k, count, fg, w.Memory.Span[(w.Offset + group * fg * k)..], 1, k, dy.Span[dyAt..], p, dcols, count, default);
                }
                else
                {
                    Gemm.Multiply(
                        w.Packed(group), count,
                        dy, dyAt, p, 1,
                        dcols, 0, count,
                        accumulate: false);
                }

                ConvColumns.ScatterAdd<T>(dx.Span, (n * g.C + group * g.Cg) * plane, plane, g.W, 1, g, p0, count, dcols);
            }
        }
    }

    /// <summary>
    /// Records the VJP. Without createGraph (grad mode off during backward) the requested gradients come
    /// from one fused pass over the images (<see cref="Backward{T}"/>); with it, from the recorded ops
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
                var (dX, dW, dB) = Backward(input, weight, dy, g, needX, needW, needB);
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
    /// dX and dW in one pass over the images (not recorded): for each image, dW's partial of its chunk
    /// gains dY_n · cols_nᵀ and dX_n is scattered from Wᵀ · dY_n, with one scratch buffer for both.
    /// </summary>
    private static (Tensor<T>? DX, Tensor<T>? DW, Tensor<T>? DB) Backward<T>(
        Tensor<T> input, Tensor<T> weight, Tensor<T> gradOutput, ConvGeometry g, bool needX, bool needW, bool needB)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!needX && !needW)
        {
            return (null, null, needB ? gradOutput.Contiguous().Sum([0, 2, 3]) : null);
        }

        var denseDy = Dense(gradOutput);
        var denseW = needX ? Dense(weight) : weight;
        var (dy, dyOffset) = ((ReadOnlyMemory<T>)denseDy.Storage.Memory, denseDy.Offset);
        using var w = new Filters<T>(denseW.Storage.Memory, denseW.Offset, g, transposed: true);
        var dX = needX ? Tensor<T>.Uninitialized([g.N, g.C, g.H, g.W]) : null;
        var dW = needW ? Tensor<T>.ZeroFilled([g.F, g.Cg, g.KH, g.KW]) : null;
        var windows = needW ? DirectWindows(input, g) : null;
        var dx = dX is null ? default : dX.Storage.Memory;
        var partials = needW ? new WeightPartials<T>(dW!, g) : null;
        var batch = Batch<T>(g, windows is null);
        ForEachImage(
            g,
            batch,
            () => ArrayPool<T>.Shared.Rent(ScratchLength<T>(g, batch)),
            (n0, count, chunk, scratch) =>
            {
                if (partials is not null)
                {
                    WeightGradientImages(input, windows, dy, dyOffset, partials.For(chunk), g, n0, count, scratch);
                }

                if (needX)
                {
                    InputGradientImages(w, dy, dyOffset, dx, g, n0, count, scratch);
                }
            },
            scratch => ArrayPool<T>.Shared.Return(scratch),
            partials is null ? null : partials.Merge);

        // db[f] = Σ_{n, oh, ow} dY[n, f, oh, ow]
        var dB = needB ? denseDy.Sum([0, 2, 3]) : null;
        GC.KeepAlive(input);
        GC.KeepAlive(denseW);
        GC.KeepAlive(denseDy);
        return (dX, dW, dB);
    }

    /// <summary>
    /// Z = ConvTranspose(G, W) + b, the adjoint of conv(·, W) for the geometry <paramref name="g"/> (G has
    /// the conv's output shape [N, F, OH, OW], Z its input shape [N, C, H, W]): dcols = W_gᵀ · G_{n,g}
    /// scatter-added through the windows (col2im) into zeros, taps in the padding dropped. Recorded with
    /// VJP dG = conv(dZ, W), dW = WeightGradient(dZ, G), db = Σ dZ.
    /// </summary>
    internal static Tensor<T> Transposed<T>(Tensor<T> gradOutput, Tensor<T> weight, Tensor<T>? bias, ConvGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var denseDy = Dense(gradOutput);
        var denseW = Dense(weight);
        var (dy, dyOffset) = ((ReadOnlyMemory<T>)denseDy.Storage.Memory, denseDy.Offset);
        using var w = new Filters<T>(denseW.Storage.Memory, denseW.Offset, g, transposed: true);
        var dX = Tensor<T>.Uninitialized([g.N, g.C, g.H, g.W]);
        var dx = dX.Storage.Memory;
        var batch = Batch<T>(g, true);
        ForEachImage(
            g,
            batch,
            () => ArrayPool<T>.Shared.Rent(ScratchLength<T>(g, batch)),
            (n0, count, _, dcols) => InputGradientImages(w, dy, dyOffset, dx, g, n0, count, dcols),
            dcols => ArrayPool<T>.Shared.Return(dcols));
        GC.KeepAlive(denseDy);
        GC.KeepAlive(denseW);

        if (bias is not null)
        {
            AddBias(dX.Storage.Span, 0, bias.ToArray(), g.N, g.C, g.H * g.W);
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
    /// Σ_{n,oh,ow} G[n, f, oh, ow]·Xpad[n, grp(f)·Cg + c, oh·sH + i·dH, ow·sW + j·dW]. Recorded with VJP
    /// dX = ConvTranspose(G, dV), dG = conv(X, dV).
    /// </summary>
    private static Tensor<T> WeightGradient<T>(Tensor<T> input, Tensor<T> gradOutput, ConvGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var denseDy = Dense(gradOutput);
        var (dy, dyOffset) = ((ReadOnlyMemory<T>)denseDy.Storage.Memory, denseDy.Offset);
        var result = Tensor<T>.ZeroFilled([g.F, g.Cg, g.KH, g.KW]);
        var windows = DirectWindows(input, g);
        var partials = new WeightPartials<T>(result, g);
        var batch = Batch<T>(g, windows is null);
        ForEachImage(
            g,
            batch,
            () => ArrayPool<T>.Shared.Rent(ScratchLength<T>(g, batch)),
            (n0, count, chunk, cols) => WeightGradientImages(input, windows, dy, dyOffset, partials.For(chunk), g, n0, count, cols),
            cols => ArrayPool<T>.Shared.Return(cols),
            partials.Merge);
        GC.KeepAlive(input);
        GC.KeepAlive(denseDy);

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

    /// <summary>
    /// The filters of one call as its products read them: the dense weight, and for the Gemm path each
    /// group's W_g [Fg, K] (forward) or W_gᵀ [K, Fg] (dX) packed into the kernel's micro-panels the first
    /// time a product asks (<see cref="Gemm.Pack{T}"/>), then shared by every image and block of the call
    /// instead of packed again for each. Disposing gives the panels back to the pool.
    /// </summary>
    private sealed class Filters<T>(ReadOnlyMemory<T> w, int offset, ConvGeometry g, bool transposed) : IDisposable
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly Gemm.PackedA<T>?[] _packed = new Gemm.PackedA<T>?[g.Groups];
        private Winograd.Filters<T>? _winograd;

        /// <summary>The dense [F, Cg, KH, KW] weight's memory.</summary>
        public ReadOnlyMemory<T> Memory => w;

        /// <summary>Where the weight starts in <see cref="Memory"/>.</summary>
        public int Offset => offset;

        /// <summary>Group <paramref name="group"/>'s filters as a packed left operand (workers share it).</summary>
        public Gemm.PackedA<T> Packed(int group)
        {
            lock (_packed)
            {
                var at = offset + group * g.Fg * g.K;
                return _packed[group] ??= transposed ? Gemm.Pack(g.K, g.Fg, w, at, 1, g.K) : Gemm.Pack(g.Fg, g.K, w, at, g.K, 1);
            }
        }

        /// <summary>The Winograd transforms of the filters (of their adjoint for dX), made on first use and shared.</summary>
        public Winograd.Filters<T> Winograd()
        {
            lock (_packed)
            {
                return _winograd ??= new Winograd.Filters<T>(w.Span, offset, g, adjoint: transposed);
            }
        }

        public void Dispose()
        {
            foreach (var packed in _packed)
            {
                packed?.Dispose();
            }

            _winograd?.Dispose();
        }
    }

    /// <summary>
    /// dW as a sum over images. For bits that do not depend on thread timing or thread count, each fixed
    /// chunk of images sums into its own partial (chunk 0 straight into dW), and the partials are added
    /// to dW in chunk order (<see cref="Merge"/>), whether the chunks ran in parallel or one after another.
    /// </summary>
    private sealed class WeightPartials<T>(Tensor<T> dw, ConvGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly T[]?[] _partials = new T[]?[ImageChunks(g)];
        private readonly int _length = dw.Numel;

        /// <summary>The buffer chunk <paramref name="chunk"/> accumulates into (only its own worker calls this).</summary>
        public Memory<T> For(int chunk) =>
            chunk == 0 ? dw.Storage.Memory : (_partials[chunk] ??= RentCleared<T>(_length)).AsMemory(0, _length);

        /// <summary>Adds chunk <paramref name="chunk"/>'s partial into dW and returns its buffer.</summary>
        public void Merge(int chunk)
        {
            if (chunk > 0 && _partials[chunk] is { } partial)
            {
                var target = dw.Storage.Span;
                TP.Add(target, partial.AsSpan(0, _length), target);
                ArrayPool<T>.Shared.Return(partial);
                _partials[chunk] = null;
            }
        }
    }

    /// <summary>
    /// <paramref name="t"/> itself when contiguous, else a pooled contiguous copy (a GEMM operand with
    /// row-major planes; an expanded gradient such as Sum's would otherwise be read with stride 0).
    /// </summary>
    private static Tensor<T> Dense<T>(Tensor<T> t)
        where T : unmanaged, IFloatingPointIeee754<T>
        => t.IsContiguous ? t : t.ContiguousCopy();

    /// <summary>y[offset + (n·channels + c)·plane ..] += bias[c], the bias of one output plane per channel.</summary>
    private static void AddBias<T>(Span<T> y, int offset, T[] bias, int n, int channels, int plane)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (var i = 0; i < n; i++)
        {
            for (var c = 0; c < channels; c++)
            {
                var row = y.Slice(offset + (i * channels + c) * plane, plane);
                TP.Add(row, bias[c], row);
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
    private static int ImageChunks(ConvGeometry g) => Math.Min(g.N, MaxImageChunks);

    /// <summary>
    /// Runs <paramref name="body"/>(n0, count, chunk, scratch) for every run of up to <paramref name="batch"/>
    /// consecutive images within a chunk, chunk by chunk (fixed chunks of consecutive images,
    /// <see cref="ImageChunks"/>; runs never cross a chunk, so the batching is fixed too), each worker with its own scratch from
    /// <paramref name="init"/>. Chunks are spread over up to <see cref="Tensor.NumThreads"/> threads when
    /// the pass is large enough to pay for them and the chunks share out evenly, claimed one at a time
    /// (<see cref="Threads.Claim"/>: a late pool thread never holds the caller up); each product then runs on
    /// its worker alone (<see cref="Gemm.OneThread"/>). Otherwise the images run in turn and Gemm may split
    /// each product. <paramref name="merge"/>(chunk) runs for every chunk in chunk order once that chunk is
    /// done (after all of them when they ran in parallel), so partial results combine in a fixed order.
    /// </summary>
    private static void ForEachImage<TLocal>(ConvGeometry g, int batch, Func<TLocal> init, Action<int, int, int, TLocal> body, Action<TLocal> finish, Action<int>? merge = null)
    {
        var chunks = ImageChunks(g);
        void RunChunk(int chunk, TLocal local)
        {
            var end = (int)((long)g.N * (chunk + 1) / chunks);
            for (var n = (int)((long)g.N * chunk / chunks); n < end; n += batch)
            {
                body(n, Math.Min(batch, end - n), chunk, local);
            }
        }

        var threads = Math.Min(Gemm.MaxThreads, chunks);
        if (threads > 1 && g.Work >= ParallelWork && (chunks % threads == 0 || chunks >= 4 * threads))
        {
            Threads.Claim(
                chunks,
                threads,
                init,
                (chunk, local) =>
                {
                    var nested = Gemm.OneThread;
                    Gemm.OneThread = true;
                    try
                    {
                        RunChunk(chunk, local);
                    }
                    finally
                    {
                        Gemm.OneThread = nested;
                    }
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
