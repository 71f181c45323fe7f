using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
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
/// <item>dW_gᵀ[r, f] += Σ_t X[off_r + pos_t]·dY_gᵀ[t, f] over the real positions t (RowGemm.Multiply, A rows at the tap offsets, A columns at the positions), summed over a run of images before it is added into dW;</item>
/// <item>dX[off_r + j] += Σ_f W_g[f, r]·dY_g[f, j] (RowGemm.Multiply, A = W_gᵀ, rows of C at the offsets, overlapping
/// rows added one after another: col2im fused into the product), then the scratch's interior added into dX.</item>
/// </list>
/// Taken when the waste is bounded (Wp ≤ 2·OW) and the scratch is small; LeNet's second layer
/// ([6, 14, 14] → [16, 10, 10], K = 150) computes 140 columns per 100 outputs in the forward and dX, and
/// packs nothing.
/// </remarks>
internal static class WideConv
{
    // Largest padded input group and widened output (elements) taken here: 256 KiB of float each, in L2.
    private const int MaxScratchElements = 1 << 16;

    // Largest contraction taken here: W_gᵀ (K × Fg) and the offset tables grow with it.
    private const int MaxDepth = 4096;

    /// <summary>Test hook: turns the path off so the packed-column path can be compared with it.</summary>
    internal static bool Disabled { get; set; }

    /// <summary>Whether the geometry goes here: stride 1, Wp ≤ 2·OW, small scratch, vector hardware for T.</summary>
    public static bool Applies<T>(in ConvGeometry g)
        where T : unmanaged
        => FitsForward<T>(g) && ((long)g.K + g.P) * FilterColumns<T>(g) <= MaxScratchElements;

    /// <summary>
    /// Whether the forward pass alone may go here: the forward's scratch within the cap (<see cref="Applies{T}"/>
    /// without its bound on dW's, the transposed dY of an image and dW's columns, which only the backward uses), a
    /// whole register tile of filters per group (RowGemm's 8 rows), and the widened rows, rounded to the kernel's
    /// granule, at most twice the outputs. c2 (32 → 64 channels, 28 × 28) is such a geometry: its forward on wide
    /// rows, its gradients on packed columns (<see cref="ConvPlan.Choose{T}"/>). Measured on c2 only.
    /// </summary>
    public static bool AppliesToForward<T>(in ConvGeometry g)
        where T : unmanaged
        => FitsForward<T>(g) && g.Fg >= RowGemm.TileRows && Columns<T>(g) <= 2L * g.P;

    /// <summary>
    /// Scratch elements the forward alone needs: the padded input group, the widened rows and the mask (the first
    /// three regions of <see cref="ScratchLength{T}"/>'s layout).
    /// </summary>
    public static int ForwardScratchLength<T>(in ConvGeometry g)
        where T : unmanaged
        => new Layout<T>(g).ForwardLength;

    /// <summary>Stride 1, Wp ≤ 2·OW, the padded input and the widened output within the cap, vector hardware for T.</summary>
    private static bool FitsForward<T>(in ConvGeometry g)
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

    /// <summary>
    /// Scratch elements one worker needs: the padded input (or dX) group, the widened output rows, the
    /// mask, and for dW the transposed dY of an image and the transposed dW of a run of images.
    /// </summary>
    public static int ScratchLength<T>(in ConvGeometry g)
        where T : unmanaged
    {
        return new Layout<T>(g).Length;
    }

    /// <summary>Y[n] = conv(X[n], W) + b for every group.</summary>
    public static void Forward<T>(Tensor<T> x, ReadOnlySpan<T> w, int wOffset, T[]? bias, Span<T> y, in ConvGeometry g, int n, T[] scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (_, wp) = Padded(g);
        var nr = Columns<T>(g);
        Regions<T>(g, scratch, out var xs, out var wide, out _);
        var tables = ArrayPool<int>.Shared.Rent(2 * g.K + 2 * g.Fg);
        var offsets = tables.AsSpan(0, g.K);
        var taps = tables.AsSpan(g.K, g.K);
        var filters = tables.AsSpan(2 * g.K, g.Fg);
        var rows = tables.AsSpan(2 * g.K + g.Fg, g.Fg);
        Offsets(g, offsets);
        Steps(taps, 1);
        Steps(filters, g.K);
        Steps(rows, nr);
        for (var group = 0; group < g.Groups; group++)
        {
            FillInput(x, g, n, group, xs);

            // Y_g[f, j] = Σ_r W_g[f, r]·X[off_r + j]: A = W_g (rows f·K, columns r), B rows at the tap offsets.
            RowGemm.Multiply<T>(g.Fg, nr, g.K, w[(wOffset + group * g.Fg * g.K)..], filters, taps, xs, offsets, wide, rows, default, accumulate: false);
            for (var f = 0; f < g.Fg; f++)
            {
                var channel = group * g.Fg + f;
                var b = bias is null ? T.Zero : bias[channel];
                ref var src = ref wide[f * nr];
                ref var dst = ref y[(n * g.F + channel) * g.OH * g.OW];
                for (var oh = 0; oh < g.OH; oh++)
                {
                    Rows.Copy(ref Unsafe.Add(ref src, oh * wp), ref Unsafe.Add(ref dst, oh * g.OW), g.OW, b, add: bias is not null);
                }
            }
        }

        ArrayPool<int>.Shared.Return(tables);
    }

    /// <summary>
    /// dW_g += Σ_{n ∈ [n0, n0 + count)} dY[n]_g · cols(X[n])_gᵀ for every group, <paramref name="dw"/> [F, K]
    /// row-major. Computed transposed, dWᵀ[r, f] = Σ_t X[off_r + pos_t]·dYᵀ[t, f] over the real output
    /// positions t (pos_t = oh·Wp + ow): a row of filters is a vector, so the sum over positions stays in
    /// registers, and only real positions are visited. The run's dWᵀ is added into dW once at the end.
    /// With fewer filters than a vector, dots along the widened rows instead.
    /// </summary>
    public static void WeightGradient<T>(Tensor<T> x, ReadOnlySpan<T> dy, int dyOffset, Span<T> dw, in ConvGeometry g, int n0, int count, T[] scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (_, wp) = Padded(g);
        var ldw = FilterColumns<T>(g);
        var (k, p) = (g.K, g.P);
        Regions<T>(g, scratch, out var xs, out _, out _);
        var layout = new Layout<T>(g);
        var dwT = layout.WeightGradientT(scratch);
        var dyT = layout.GradOutputT(scratch);
        var tables = ArrayPool<int>.Shared.Rent(2 * k + 2 * p);
        var offsets = tables.AsSpan(0, k);
        var rows = tables.AsSpan(k, k);
        var positions = tables.AsSpan(2 * k, p);
        var dyRows = tables.AsSpan(2 * k + p, p);
        Offsets(g, offsets);
        Steps(rows, ldw);
        Steps(dyRows, ldw);
        for (var t = 0; t < p; t++)
        {
            positions[t] = t / g.OW * wp + t % g.OW;
        }

        if (g.Fg < RowGemm.Granule<T>())
        {
            // Fewer filters than a vector holds (LeNet's first layer: 6): dots along the widened rows,
            // dW_g[f, r] += Σ_j dY_g[f, j]·X[off_r + j], the dropped columns masked.
            var nr = Columns<T>(g);
            Regions<T>(g, scratch, out _, out var wide, out var mask);
            FillMask(g, mask);
            for (var group = 0; group < g.Groups; group++)
            {
                for (var n = n0; n < n0 + count; n++)
                {
                    FillInput(x, g, n, group, xs);
                    Widen(dy, dyOffset, g, n, group, wide);
                    RowGemm.DotsAdd<T>(g.Fg, k, nr, wide, nr, xs, offsets, mask, dw[(group * g.Fg * k)..], k);
                }
            }

            ArrayPool<int>.Shared.Return(tables);
            return;
        }

        for (var group = 0; group < g.Groups; group++)
        {
            dwT.Clear();

            // Columns Fg..ldw of dYᵀ stay zero for the whole run.
            dyT.Clear();
            for (var n = n0; n < n0 + count; n++)
            {
                FillInput(x, g, n, group, xs);
                // dYᵀ[t, f] = dY[f, t]: the plane's rows are in range (dY is dense [N, F, OH, OW]), so unchecked.
                ref var plane = ref MemoryMarshal.GetReference(dy.Slice(dyOffset + (n * g.F + group * g.Fg) * p, g.Fg * p));
                ref var column = ref MemoryMarshal.GetReference(dyT);
                for (var f = 0; f < g.Fg; f++)
                {
                    ref var src = ref Unsafe.Add(ref plane, f * p);
                    ref var dst = ref Unsafe.Add(ref column, f);
                    for (var t = 0; t < p; t++)
                    {
                        Unsafe.Add(ref dst, t * ldw) = Unsafe.Add(ref src, t);
                    }
                }

                RowGemm.Multiply<T>(k, ldw, p, xs, offsets, positions, dyT, dyRows, dwT, rows, default, accumulate: true);
            }

            var target = dw[(group * g.Fg * k)..];
            for (var f = 0; f < g.Fg; f++)
            {
                for (var r = 0; r < k; r++)
                {
                    target[f * k + r] += dwT[r * ldw + f];
                }
            }
        }

        ArrayPool<int>.Shared.Return(tables);
    }

    /// <summary>
    /// dX[n] += col2im(W_gᵀ · dY[n]_g) for every group and image n ∈ [n0, n0 + count), <paramref name="dx"/>
    /// dense [N, C, H, W]: the rows of W_gᵀ·dY_g are added into the padded scratch at the tap offsets
    /// (overlapping rows, taken in an order that keeps a tile's rows apart), then the scratch's interior into dX.
    /// </summary>
    public static void InputGradient<T>(ReadOnlySpan<T> w, int wOffset, ReadOnlySpan<T> dy, int dyOffset, Span<T> dx, in ConvGeometry g, int n0, int count, T[] scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (hp, wp) = Padded(g);
        var nr = Columns<T>(g);
        Regions<T>(g, scratch, out var dxs, out var wide, out var mask);
        var k = g.K;
        var tables = ArrayPool<int>.Shared.Rent(4 * k + 2 * g.Fg);
        var offsets = tables.AsSpan(0, k);
        var order = tables.AsSpan(k, k);
        var targets = tables.AsSpan(2 * k, k);
        var tapRows = tables.AsSpan(3 * k, k);
        var filters = tables.AsSpan(4 * k, g.Fg);
        var dyRows = tables.AsSpan(4 * k + g.Fg, g.Fg);
        Offsets(g, offsets);
        Interleave(order);
        for (var i = 0; i < k; i++)
        {
            targets[i] = offsets[order[i]];
        }

        Steps(tapRows, g.Fg);
        Steps(filters, 1);
        Steps(dyRows, nr);
        FillMask(g, mask);
        var wT = new Layout<T>(g).WeightT(scratch);
        for (var group = 0; group < g.Groups; group++)
        {
            // W_gᵀ with its rows in the interleaved order, once per run: wT[i, f] = W_g[f, order_i], so the
            // eight broadcasts of a step read eight short rows instead of eight lines K apart.
            var wg = w.Slice(wOffset + group * g.Fg * k, g.Fg * k);
            for (var i = 0; i < k; i++)
            {
                for (var f = 0; f < g.Fg; f++)
                {
                    wT[i * g.Fg + f] = wg[f * k + order[i]];
                }
            }

            for (var n = n0; n < n0 + count; n++)
            {
                Widen(dy, dyOffset, g, n, group, wide);
                dxs.Clear();

                // A = W_gᵀ (interleaved rows), C rows at the taps' offsets.
                RowGemm.Multiply<T>(k, nr, g.Fg, wT, tapRows, filters, wide, dyRows, dxs, targets, mask, accumulate: true);

                // Without left or right padding a channel's rows are one run in the scratch and in dX.
                var run = wp == g.W ? g.H : 1;
                for (var c = 0; c < g.Cg; c++)
                {
                    for (var ih = 0; ih < g.H; ih += run)
                    {
                        var src = dxs.Slice((c * hp + ih + g.PadTop) * wp + g.PadLeft, run * g.W);
                        var dst = dx.Slice(((n * g.C + group * g.Cg + c) * g.H + ih) * g.W, run * g.W);
                        TP.Add(dst, src, dst);
                    }
                }
            }
        }

        ArrayPool<int>.Shared.Return(tables);
    }

    private static (int Hp, int Wp) Padded(in ConvGeometry g) =>
        (g.H + g.PadTop + g.PadBottom, g.W + g.PadLeft + g.PadRight);

    /// <summary>nr: the widened output plane OH·Wp rounded up to the kernel's granule.</summary>
    private static int Columns<T>(in ConvGeometry g)
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
    private static int InputLength<T>(in ConvGeometry g)
        where T : unmanaged
    {
        var (hp, wp) = Padded(g);
        return g.Cg * hp * wp + wp + RowGemm.Granule<T>();
    }

    /// <summary>The scratch's three regions: the padded input group (or dX), the widened rows, the mask.</summary>
    private static void Regions<T>(in ConvGeometry g, T[] scratch, out Span<T> input, out Span<T> wide, out Span<T> mask)
        where T : unmanaged
    {
        var layout = new Layout<T>(g);
        input = layout.Input(scratch);
        wide = layout.Wide(scratch);
        mask = layout.Mask(scratch);
    }

    /// <summary>
    /// Where each region of one worker's scratch lies, in order: the padded input group (or dX), the widened
    /// rows [Fg, nr], the mask [nr], dWᵀ [K, ldw], dYᵀ [P, ldw] and W_gᵀ [K, Fg].
    /// </summary>
    private readonly struct Layout<T>
        where T : unmanaged
    {
        private readonly int _input, _wide, _mask, _dwT, _dyT, _wT;

        public Layout(in ConvGeometry g)
        {
            var nr = Columns<T>(g);
            var ldw = FilterColumns<T>(g);
            _input = InputLength<T>(g);
            _wide = g.Fg * nr;
            _mask = nr;
            _dwT = g.K * ldw;
            _dyT = g.P * ldw;
            _wT = g.K * g.Fg;
        }

        public int Length => ForwardLength + _dwT + _dyT + _wT;

        /// <summary>The regions the forward uses, at the start: the padded input, the widened rows, the mask.</summary>
        public int ForwardLength => _input + _wide + _mask;

        public Span<T> Input(T[] scratch) => scratch.AsSpan(0, _input);

        public Span<T> Wide(T[] scratch) => scratch.AsSpan(_input, _wide);

        public Span<T> Mask(T[] scratch) => scratch.AsSpan(_input + _wide, _mask);

        public Span<T> WeightGradientT(T[] scratch) => scratch.AsSpan(_input + _wide + _mask, _dwT);

        public Span<T> GradOutputT(T[] scratch) => scratch.AsSpan(_input + _wide + _mask + _dwT, _dyT);

        public Span<T> WeightT(T[] scratch) => scratch.AsSpan(_input + _wide + _mask + _dwT + _dyT, _wT);
    }

    /// <summary>off(c, kh, kw) = c·Hp·Wp + kh·dH·Wp + kw·dW, in the column matrix's row order.</summary>
    private static void Offsets(in ConvGeometry g, Span<int> offsets)
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

    /// <summary>table[i] = i·step.</summary>
    private static void Steps(Span<int> table, int step)
    {
        for (var i = 0; i < table.Length; i++)
        {
            table[i] = i * step;
        }
    }

    /// <summary>
    /// 0..K−1 in the order t·B + b (b-major within each tile of B = ⌈K / TileRows⌉): consecutive rows of the
    /// result are B taps apart, so a tile's rows of dX lie apart and each row's add does not wait on the
    /// previous row's store.
    /// </summary>
    private static void Interleave(Span<int> order)
    {
        var k = order.Length;
        var blocks = (k + RowGemm.TileRows - 1) / RowGemm.TileRows;
        var i = 0;
        for (var b = 0; b < blocks; b++)
        {
            for (var t = 0; t < RowGemm.TileRows; t++)
            {
                if (t * blocks + b < k)
                {
                    order[i++] = t * blocks + b;
                }
            }
        }
    }

    /// <summary>The filters of a group rounded up to whole vectors: dWᵀ and dYᵀ rows.</summary>
    private static int FilterColumns<T>(in ConvGeometry g)
        where T : unmanaged
    {
        var granule = RowGemm.Granule<T>();
        return (g.Fg + granule - 1) / granule * granule;
    }

    /// <summary>All bits set at the real output columns (ow &lt; OW of the first OH rows), zero elsewhere.</summary>
    private static void FillMask<T>(in ConvGeometry g, Span<T> mask)
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
    private static void FillInput<T>(Tensor<T> x, in ConvGeometry g, int n, int group, Span<T> xs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (hp, wp) = Padded(g);
        using var xr = x.Read();
        var s = xr.Strides;
        var data = xr.Span;

        // Without padding only the slack past the planes is not overwritten.
        xs[(g.IsPadded ? 0 : g.Cg * hp * wp)..].Clear();

        // Without left or right padding, over rows that follow one another in x, a channel is one copy.
        var run = wp == g.W && s[3] == 1 && s[2] == g.W ? g.H : 1;
        for (var c = 0; c < g.Cg; c++)
        {
            for (var ih = 0; ih < g.H; ih += run)
            {
                var dst = xs.Slice((c * hp + ih + g.PadTop) * wp + g.PadLeft, run * g.W);
                var at = xr.Offset + n * s[0] + (group * g.Cg + c) * s[1] + ih * s[2];
                if (s[3] == 1)
                {
                    data.Slice(at, run * g.W).CopyTo(dst);
                    continue;
                }

                for (var iw = 0; iw < g.W; iw++, at += s[3])
                {
                    dst[iw] = data[at];
                }
            }
        }
    }

    /// <summary>dY[n]_g ([Fg, OH, OW], dense at dyOffset) as rows of nr with each output row Wp wide, zeros between.</summary>
    private static void Widen<T>(ReadOnlySpan<T> dy, int dyOffset, in ConvGeometry g, int n, int group, Span<T> wide)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (_, wp) = Padded(g);
        var nr = Columns<T>(g);
        wide.Clear();
        for (var f = 0; f < g.Fg; f++)
        {
            ref var src = ref MemoryMarshal.GetReference(dy.Slice(dyOffset + (n * g.F + group * g.Fg + f) * g.OH * g.OW, g.OH * g.OW));
            ref var dst = ref wide[f * nr];
            for (var oh = 0; oh < g.OH; oh++)
            {
                Rows.Copy(ref Unsafe.Add(ref src, oh * g.OW), ref Unsafe.Add(ref dst, oh * wp), g.OW, T.Zero, add: false);
            }
        }
    }

    /// <summary>Short rows (an output row of a small image: 5 to 30 elements), where a span call's set-up costs more than the copy.</summary>
    private static class Rows
    {
        /// <summary>
        /// dst[i] = src[i] (+ b when <paramref name="add"/>) for i &lt; n: whole vectors, then one more ending at
        /// n that overlaps the last (the same values written twice); shorter rows element by element. src and
        /// dst do not overlap. A plain copy adds nothing, so −0 and NaN payloads stay as they are.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Copy<T>(ref T src, ref T dst, int n, T b, bool add)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            var width = Vector256<T>.Count;
            if (!Vector256.IsHardwareAccelerated || n < width)
            {
                for (var i = 0; i < n; i++)
                {
                    Unsafe.Add(ref dst, i) = add ? Unsafe.Add(ref src, i) + b : Unsafe.Add(ref src, i);
                }

                return;
            }

            var bias = Vector256.Create(b);
            for (var i = 0; i + width <= n; i += width)
            {
                var v = Vector256.LoadUnsafe(ref src, (nuint)i);
                (add ? v + bias : v).StoreUnsafe(ref dst, (nuint)i);
            }

            var last = Vector256.LoadUnsafe(ref src, (nuint)(n - width));
            (add ? last + bias : last).StoreUnsafe(ref dst, (nuint)(n - width));
        }
    }
}
