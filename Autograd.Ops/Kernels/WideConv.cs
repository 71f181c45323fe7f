using System.Numerics;
using System.Runtime.CompilerServices;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd.Kernels;

/// <summary>
/// Stride-1 convolution of one small image without im2col, on "wide rows". The image's group of channels
/// is copied once into a zero-padded scratch [Cg, Hp, Wp] (Hp = H + padding, Wp = W + padding: a few KiB
/// that stay in L1). An output row is then computed Wp wide instead of OW wide, so output position
/// j = oh·Wp + ow reads tap (c, kh, kw) at scratch element off(c, kh, kw) + j with
/// off = c·Hp·Wp + kh·dH·Wp + kw·dW, for every j: each row of the column matrix is a contiguous stretch of
/// the scratch, and <see cref="RowGemm"/> reads it there through a table of K offsets. The Wp − OW extra
/// columns of each output row are computed and dropped (a mask keeps them out of dW and dX).
/// </summary>
/// <remarks>
/// The three products of one image, with nr = OH·Wp rounded up to the kernel's granule:
/// <list type="bullet">
/// <item>Y_g[f, j] = Σ_r W_g[f, r]·X[off_r + j] (RowGemm.Multiply, A = W_g), the OW real columns of each row copied out with the bias;</item>
/// <item>dW_g[f, r] += Σ_j dY_g[f, j]·X[off_r + j] over the real columns (RowGemm.DotsAdd), dY widened to rows of Wp with zeros;</item>
/// <item>dX[off_r + j] += Σ_f W_g[f, r]·dY_g[f, j] (RowGemm.Multiply, A = W_gᵀ, rows of C at the offsets, overlapping
/// rows added one after another: col2im fused into the product), then the scratch's interior added into dX.</item>
/// </list>
/// Taken when the waste is bounded (Wp ≤ 2·OW) and the scratch is small; LeNet's second layer
/// ([6, 14, 14] → [16, 10, 10], K = 150) computes 140 columns per 100 outputs and packs nothing.
/// </remarks>
internal static class WideConv
{
    // Largest padded input group and widened output (elements) taken here: 256 KiB of float each, in L2.
    private const int MaxScratchElements = 1 << 16;

    // Largest contraction: the offsets live on the stack.
    private const int MaxDepth = 4096;

    /// <summary>Test hook: turns the path off so the packed-column path can be compared with it.</summary>
    internal static bool Disabled { get; set; }

    /// <summary>Whether the geometry goes here: stride 1, Wp ≤ 2·OW, small scratch, vector hardware for T.</summary>
    public static bool Applies<T>(in Conv2dOp.Geometry g)
        where T : unmanaged
    {
        if (Disabled || !RowGemm.IsSupported<T>() || g.Stride.H != 1 || g.Stride.W != 1 || g.K > MaxDepth)
        {
            return false;
        }

        var (hp, wp) = Padded(g);
        return wp <= 2L * g.OW
            && (long)g.Cg * hp * wp <= MaxScratchElements
            && (long)g.Fg * ((long)g.OH * wp + RowGemm.Granule<T>()) <= MaxScratchElements;
    }

    /// <summary>Scratch elements one worker needs: the padded input (or dX) group, the widened output rows and the mask.</summary>
    public static int ScratchLength<T>(in Conv2dOp.Geometry g)
        where T : unmanaged
    {
        var nr = Columns<T>(g);
        return InputLength<T>(g) + (g.Fg + 1) * nr;
    }

    /// <summary>Y[n] = conv(X[n], W) + b for every group.</summary>
    public static void Forward<T>(Tensor<T> x, ReadOnlySpan<T> w, int wOffset, T[]? bias, Span<T> y, in Conv2dOp.Geometry g, int n, T[] scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (_, wp) = Padded(g);
        var nr = Columns<T>(g);
        Regions<T>(g, scratch, out var xs, out var wide, out _);
        Span<int> offsets = stackalloc int[g.K];
        Offsets(g, offsets);
        Span<int> rows = stackalloc int[g.Fg];
        RowStarts(rows, nr);
        for (var group = 0; group < g.Groups; group++)
        {
            FillInput(x, g, n, group, xs);
            RowGemm.Multiply<T>(g.Fg, nr, g.K, w[(wOffset + group * g.Fg * g.K)..], g.K, 1, xs, offsets, wide, rows, default, accumulate: false);
            for (var f = 0; f < g.Fg; f++)
            {
                var channel = group * g.Fg + f;
                for (var oh = 0; oh < g.OH; oh++)
                {
                    var src = wide.Slice(f * nr + oh * wp, g.OW);
                    var dst = y.Slice(((n * g.F + channel) * g.OH + oh) * g.OW, g.OW);
                    if (bias is null)
                    {
                        src.CopyTo(dst);
                    }
                    else
                    {
                        TP.Add(src, bias[channel], dst);
                    }
                }
            }
        }
    }

    /// <summary>dW_g += dY[n]_g · cols(X[n])_gᵀ for every group, <paramref name="dw"/> [F, K] row-major.</summary>
    public static void WeightGradient<T>(Tensor<T> x, ReadOnlySpan<T> dy, int dyOffset, Span<T> dw, in Conv2dOp.Geometry g, int n, T[] scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var nr = Columns<T>(g);
        Regions<T>(g, scratch, out var xs, out var wide, out var mask);
        Span<int> offsets = stackalloc int[g.K];
        Offsets(g, offsets);
        FillMask(g, mask);
        for (var group = 0; group < g.Groups; group++)
        {
            FillInput(x, g, n, group, xs);
            Widen(dy, dyOffset, g, n, group, wide);
            RowGemm.DotsAdd<T>(g.Fg, g.K, nr, wide, nr, xs, offsets, mask, dw[(group * g.Fg * g.K)..], g.K);
        }
    }

    /// <summary>dX[n] += col2im(W_gᵀ · dY[n]_g) for every group, <paramref name="dx"/> dense [N, C, H, W].</summary>
    public static void InputGradient<T>(ReadOnlySpan<T> w, int wOffset, ReadOnlySpan<T> dy, int dyOffset, Span<T> dx, in Conv2dOp.Geometry g, int n, T[] scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (_, wp) = Padded(g);
        var nr = Columns<T>(g);
        Regions<T>(g, scratch, out var dxs, out var wide, out var mask);
        Span<int> offsets = stackalloc int[g.K];
        Offsets(g, offsets);
        Span<int> rows = stackalloc int[g.Fg];
        RowStarts(rows, nr);
        FillMask(g, mask);
        var (hp, _) = Padded(g);
        for (var group = 0; group < g.Groups; group++)
        {
            Widen(dy, dyOffset, g, n, group, wide);
            dxs.Clear();
            RowGemm.Multiply<T>(g.K, nr, g.Fg, w[(wOffset + group * g.Fg * g.K)..], 1, g.K, wide, rows, dxs, offsets, mask, accumulate: true);
            for (var c = 0; c < g.Cg; c++)
            {
                for (var ih = 0; ih < g.H; ih++)
                {
                    var src = dxs.Slice((c * hp + ih + g.PadTop) * wp + g.PadLeft, g.W);
                    var dst = dx.Slice(((n * g.C + group * g.Cg + c) * g.H + ih) * g.W, g.W);
                    TP.Add(dst, src, dst);
                }
            }
        }
    }

    private static (int Hp, int Wp) Padded(in Conv2dOp.Geometry g) =>
        (g.H + g.PadTop + g.PadBottom, g.W + g.PadLeft + g.PadRight);

    /// <summary>nr: the widened output plane OH·Wp rounded up to the kernel's granule.</summary>
    private static int Columns<T>(in Conv2dOp.Geometry g)
        where T : unmanaged
    {
        var (_, wp) = Padded(g);
        var granule = RowGemm.Granule<T>();
        return (g.OH * wp + granule - 1) / granule * granule;
    }

    /// <summary>
    /// The padded group plus slack: a row read at off_r runs nr elements, at most (KW − 1)·dW + granule
    /// past the planes' end, and (KW − 1)·dW &lt; Wp.
    /// </summary>
    private static int InputLength<T>(in Conv2dOp.Geometry g)
        where T : unmanaged
    {
        var (hp, wp) = Padded(g);
        return g.Cg * hp * wp + wp + RowGemm.Granule<T>();
    }

    /// <summary>The scratch's three regions: the padded input group (or dX), the widened rows, the mask.</summary>
    private static void Regions<T>(in Conv2dOp.Geometry g, T[] scratch, out Span<T> input, out Span<T> wide, out Span<T> mask)
        where T : unmanaged
    {
        var nr = Columns<T>(g);
        var length = InputLength<T>(g);
        input = scratch.AsSpan(0, length);
        wide = scratch.AsSpan(length, g.Fg * nr);
        mask = scratch.AsSpan(length + g.Fg * nr, nr);
    }

    /// <summary>off(c, kh, kw) = c·Hp·Wp + kh·dH·Wp + kw·dW, in the column matrix's row order.</summary>
    private static void Offsets(in Conv2dOp.Geometry g, Span<int> offsets)
    {
        var (hp, wp) = Padded(g);
        var r = 0;
        for (var c = 0; c < g.Cg; c++)
        {
            for (var kh = 0; kh < g.KH; kh++)
            {
                for (var kw = 0; kw < g.KW; kw++)
                {
                    offsets[r++] = (c * hp + kh * g.Dilation.H) * wp + kw * g.Dilation.W;
                }
            }
        }
    }

    private static void RowStarts(Span<int> rows, int nr)
    {
        for (var f = 0; f < rows.Length; f++)
        {
            rows[f] = f * nr;
        }
    }

    /// <summary>All bits set at the real output columns (ow &lt; OW of the first OH rows), zero elsewhere.</summary>
    private static void FillMask<T>(in Conv2dOp.Geometry g, Span<T> mask)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (_, wp) = Padded(g);
        var keep = Vector<T>.AllBitsSet[0];
        mask.Clear();
        for (var oh = 0; oh < g.OH; oh++)
        {
            mask.Slice(oh * wp, g.OW).Fill(keep);
        }
    }

    /// <summary>The group's planes of image n copied into the zeroed padded scratch (any input strides).</summary>
    private static void FillInput<T>(Tensor<T> x, in Conv2dOp.Geometry g, int n, int group, Span<T> xs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (hp, wp) = Padded(g);
        var s = x._strides;
        var data = x._storage.Span;
        xs.Clear();
        for (var c = 0; c < g.Cg; c++)
        {
            for (var ih = 0; ih < g.H; ih++)
            {
                var dst = xs.Slice((c * hp + ih + g.PadTop) * wp + g.PadLeft, g.W);
                var at = x._offset + n * s[0] + (group * g.Cg + c) * s[1] + ih * s[2];
                if (s[3] == 1)
                {
                    data.Slice(at, g.W).CopyTo(dst);
                    continue;
                }

                for (var iw = 0; iw < g.W; iw++, at += s[3])
                {
                    dst[iw] = data[at];
                }
            }
        }

        GC.KeepAlive(x);
    }

    /// <summary>dY[n]_g ([Fg, OH, OW], dense at dyOffset) as rows of nr with each output row Wp wide, zeros between.</summary>
    private static void Widen<T>(ReadOnlySpan<T> dy, int dyOffset, in Conv2dOp.Geometry g, int n, int group, Span<T> wide)
        where T : unmanaged
    {
        var (_, wp) = Padded(g);
        var nr = Columns<T>(g);
        wide.Clear();
        for (var f = 0; f < g.Fg; f++)
        {
            var plane = dyOffset + (n * g.F + group * g.Fg + f) * g.OH * g.OW;
            for (var oh = 0; oh < g.OH; oh++)
            {
                dy.Slice(plane + oh * g.OW, g.OW).CopyTo(wide.Slice(f * nr + oh * wp, g.OW));
            }
        }
    }
}
