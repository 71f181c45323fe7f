using System.Buffers;
using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd.Kernels;

/// <summary>
/// How one convolution call is computed: <see cref="Choose{T}"/> picks the strategy for its geometry once,
/// and the passes (<see cref="Forward{T}"/>, <see cref="Transposed{T}"/>, <see cref="WeightGradient{T}"/>
/// and the fused <see cref="Backward{T}"/>) run it over the images: fixed chunks of consecutive images,
/// spread over threads when the pass is large, runs of up to <see cref="ConvStrategy{T}.Batch"/> images
/// within a chunk, and dW's per-chunk partials added in chunk order. Nothing here is recorded: Conv2d's
/// entry points record the passes (<see cref="Conv2dExtensions"/>).
/// </summary>
internal static class ConvPlan
{
    /// <summary>Benchmark switch: the forward pass goes on wide rows only where the whole convolution does (as before stop 32).</summary>
    internal static bool WideForwardDisabled { get; set; }

    // Multiply-adds per pass above which images are spread over threads.
    private const long ParallelWork = 1L << 20;

    // Images are split into at most this many fixed chunks (enough for 16 threads) whose partial dW
    // are added in chunk order: see ImageChunks.
    private const int MaxImageChunks = 16;

    /// <summary>
    /// The strategy for a call of geometry <paramref name="g"/>, in this order: wide rows for small stride-1
    /// images (<see cref="WideConv.Applies{T}"/>), Winograd for 3×3 stride-1 convolutions of 64+ channels
    /// each way (<see cref="Winograd.Applies{T}"/>), phase planes for strides above 1 with contractions of
    /// more than 32 terms (<see cref="PhasePlanes.Applies{T}"/>), the shallow kernel for contractions of at most 32
    /// terms (<see cref="ShallowGemm.Applies{T}"/> of K), else packed columns. A pass that only computes Y
    /// (<paramref name="forwardOnly"/>) goes on wide rows also when only the gradients' scratch is over their cap
    /// (<see cref="WideConv.AppliesToForward{T}"/>), unless Winograd takes it or the input's window view is already the
    /// column matrix. When the pass reads an
    /// <paramref name="input"/> whose window view is already the column matrix
    /// (<see cref="DirectColumns{T}.Windows"/>), Y and dW read it in place and dX runs on that strategy;
    /// a pass that does not read the input (dX alone) passes null.
    /// </summary>
    public static ConvStrategy<T> Choose<T>(in ConvGeometry g, Tensor<T>? input, bool forwardOnly = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var windows = input is null ? null : DirectColumns<T>.Windows(input, g);
        ConvStrategy<T> strategy = WideConv.Applies<T>(g) ? new WideRows<T>(g)
            : Winograd.Applies<T>(g) ? new WinogradStrategy<T>(g)
            : forwardOnly && windows is null && !WideForwardDisabled && WideConv.AppliesToForward<T>(g) ? new WideRows<T>(g, forwardOnly: true)
            : PhasePlanes.Applies<T>(g) ? new PhaseColumns<T>(g)
            : ShallowGemm.Applies<T>(g.K) ? new ShallowColumns<T>(g)
            : new PackedColumns<T>(g);
        return windows is not null ? new DirectColumns<T>(g, windows, strategy) : strategy;
    }

    /// <summary>
    /// Y = conv(X, W) + b for a batched input. The output comes from the pool; every element is written
    /// by the strategy's products.
    /// </summary>
    public static Tensor<T> Forward<T>(Tensor<T> input, Tensor<T> weight, Tensor<T>? bias, ConvGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var output = Tensor<T>.Uninitialized([g.N, g.F, g.OH, g.OW]);
        var dense = Dense(weight);

        // Until the pass returns, the kernels on every thread read the input (the direct columns in place),
        // the weight and the output through memory taken in these scopes.
        using var xr = input.Read();
        using var wr = dense.Read();
        using var yw = output.Write();
        using var w = new ConvFilters<T>(wr.Memory, wr.Offset, g, transposed: false);
        var b = bias?.ToArray();
        var y = yw.Memory;
        var strategy = Choose(g, input, forwardOnly: true);
        ForEachImage(strategy, (n0, count, _, cols) => strategy.Forward(input, w, b, y, n0, count, cols));
        return output;
    }

    /// <summary>
    /// dX and dW in one pass over the images: for each run of images, dW's partial of its chunk gains
    /// dY_n · cols_nᵀ and dX_n = ConvTranspose(dY_n, W), with one scratch buffer for both; db = Σ dY.
    /// Only the requested gradients are computed.
    /// </summary>
    public static (Tensor<T>? DX, Tensor<T>? DW, Tensor<T>? DB) Backward<T>(
        Tensor<T> input, Tensor<T> weight, Tensor<T> gradOutput, ConvGeometry g, bool needX, bool needW, bool needB)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!needX && !needW)
        {
            return (null, null, needB ? gradOutput.Contiguous().Sum([0, 2, 3]) : null);
        }

        var denseDy = Dense(gradOutput);
        var denseW = needX ? Dense(weight) : weight;
        var dX = needX ? Tensor<T>.Uninitialized([g.N, g.C, g.H, g.W]) : null;
        var dW = needW ? Tensor<T>.ZeroFilled([g.F, g.Cg, g.KH, g.KW]) : null;

        // Until the pass returns, the kernels on every thread read the input, dY and the weight and write
        // dX and dW through memory taken in these scopes.
        using var xr = input.Read();
        using var dyr = denseDy.Read();
        using var wr = denseW.Read();
        using var dxw = needX ? dX!.Write() : default;
        using var dww = needW ? dW!.Write() : default;
        var (dy, dyOffset) = (dyr.Memory, dyr.Offset);
        using var w = new ConvFilters<T>(wr.Memory, wr.Offset, g, transposed: true);

        // dX alone does not read the input: its strategy is the geometry's.
        var strategy = Choose(g, needW ? input : null);
        var dx = needX ? dxw.Memory : default;
        var partials = needW ? new WeightPartials<T>(dww.Memory, dW!.Numel, g) : null;
        ForEachImage(
            strategy,
            (n0, count, chunk, scratch) =>
            {
                if (partials is not null)
                {
                    strategy.WeightGradient(input, dy, dyOffset, partials.For(chunk), n0, count, scratch);
                }

                if (needX)
                {
                    strategy.InputGradient(w, dy, dyOffset, dx, n0, count, scratch);
                }
            },
            partials is null ? null : partials.Merge);

        // db[f] = Σ_{n, oh, ow} dY[n, f, oh, ow]
        var dB = needB ? denseDy.Sum([0, 2, 3]) : null;
        return (dX, dW, dB);
    }

    /// <summary>
    /// Z = ConvTranspose(G, W) + b, the adjoint of conv(·, W) for the geometry <paramref name="g"/> (G has
    /// the conv's output shape [N, F, OH, OW], Z its input shape [N, C, H, W]): Conv2d's dX pass, on the
    /// strategy the geometry alone picks.
    /// </summary>
    public static Tensor<T> Transposed<T>(Tensor<T> gradOutput, Tensor<T> weight, Tensor<T>? bias, ConvGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var denseDy = Dense(gradOutput);
        var denseW = Dense(weight);
        var dX = Tensor<T>.Uninitialized([g.N, g.C, g.H, g.W]);

        // Until the pass returns, the kernels on every thread read dY and the weight and write dX through
        // memory taken in these scopes.
        using var dyr = denseDy.Read();
        using var wr = denseW.Read();
        using var dxw = dX.Write();
        var (dy, dyOffset) = (dyr.Memory, dyr.Offset);
        using var w = new ConvFilters<T>(wr.Memory, wr.Offset, g, transposed: true);
        var dx = dxw.Memory;
        var strategy = Choose<T>(g, null);
        ForEachImage(strategy, (n0, count, _, dcols) => strategy.InputGradient(w, dy, dyOffset, dx, n0, count, dcols));

        if (bias is not null)
        {
            ConvStrategy<T>.AddBias(dxw.Span, 0, bias.ToArray(), g.N, g.C, g.H * g.W);
        }

        return dX;
    }

    /// <summary>
    /// V = WeightGradient(X, G): V_g = Σ_n G_{n,g} · cols(X)_{n,g}ᵀ, summed over fixed chunks of images in
    /// chunk order.
    /// </summary>
    public static Tensor<T> WeightGradient<T>(Tensor<T> input, Tensor<T> gradOutput, ConvGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var denseDy = Dense(gradOutput);
        var result = Tensor<T>.ZeroFilled([g.F, g.Cg, g.KH, g.KW]);

        // Until the pass returns, the kernels on every thread read the input and dY and write dW through
        // memory taken in these scopes.
        using var xr = input.Read();
        using var dyr = denseDy.Read();
        using var dww = result.Write();
        var (dy, dyOffset) = (dyr.Memory, dyr.Offset);
        var strategy = Choose(g, input);
        var partials = new WeightPartials<T>(dww.Memory, result.Numel, g);
        ForEachImage(
            strategy,
            (n0, count, chunk, cols) => strategy.WeightGradient(input, dy, dyOffset, partials.For(chunk), n0, count, cols),
            partials.Merge);
        return result;
    }

    /// <summary>
    /// <paramref name="t"/> itself when contiguous, else a pooled contiguous copy (a GEMM operand with
    /// row-major planes; an expanded gradient such as Sum's would otherwise be read with stride 0).
    /// </summary>
    private static Tensor<T> Dense<T>(Tensor<T> t)
        where T : unmanaged, IFloatingPointIeee754<T>
        => t.IsContiguous ? t : t.ContiguousCopy();

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
    /// Runs <paramref name="body"/>(n0, count, chunk, scratch) for every run of up to the strategy's
    /// <see cref="ConvStrategy{T}.Batch"/> consecutive images within a chunk, chunk by chunk (fixed chunks of
    /// consecutive images, <see cref="ImageChunks"/>; runs never cross a chunk, so the batching is fixed too),
    /// each worker with its own <see cref="ConvStrategy{T}.ScratchLength"/> of scratch from the pool. Chunks are spread over up to <see cref="Tensor.NumThreads"/> threads when
    /// the pass is large enough to pay for them and the chunks share out evenly, claimed one at a time
    /// (<see cref="Threads.Claim"/>: a late pool thread never holds the caller up); each product then runs on
    /// its worker alone (<see cref="Gemm.OneThread"/>). Otherwise the images run in turn and Gemm may split
    /// each product. <paramref name="merge"/>(chunk) runs for every chunk in chunk order once that chunk is
    /// done (after all of them when they ran in parallel), so partial results combine in a fixed order.
    /// </summary>
    private static void ForEachImage<T>(ConvStrategy<T> strategy, Action<int, int, int, T[]> body, Action<int>? merge = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = strategy.Geometry;
        var batch = strategy.Batch;
        var chunks = ImageChunks(g);
        T[] Rent() => ArrayPool<T>.Shared.Rent(strategy.ScratchLength);
        void RunChunk(int chunk, T[] local)
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
            Gemm.ClaimEachOnOneThread(chunks, threads, Rent, RunChunk, local => ArrayPool<T>.Shared.Return(local));
            for (var chunk = 0; chunk < chunks; chunk++)
            {
                merge?.Invoke(chunk);
            }

            return;
        }

        var scratch = Rent();
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
            ArrayPool<T>.Shared.Return(scratch);
        }
    }

    /// <summary>
    /// dW as a sum over images. For bits that do not depend on thread timing or thread count, each fixed
    /// chunk of images sums into its own partial (chunk 0 straight into dW), and the partials are added
    /// to dW in chunk order (<see cref="Merge"/>), whether the chunks ran in parallel or one after another.
    /// <paramref name="dw"/> is dW's memory (<paramref name="length"/> elements), taken in the pass's write scope.
    /// </summary>
    private sealed class WeightPartials<T>(Memory<T> dw, int length, ConvGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly T[]?[] _partials = new T[]?[ImageChunks(g)];
        private readonly int _length = length;

        /// <summary>The buffer chunk <paramref name="chunk"/> accumulates into (only its own worker calls this).</summary>
        public Memory<T> For(int chunk) =>
            chunk == 0 ? dw : (_partials[chunk] ??= RentCleared<T>(_length)).AsMemory(0, _length);

        /// <summary>Adds chunk <paramref name="chunk"/>'s partial into dW and returns its buffer.</summary>
        public void Merge(int chunk)
        {
            if (chunk > 0 && _partials[chunk] is { } partial)
            {
                var target = dw.Span;
                TP.Add(target, partial.AsSpan(0, _length), target);
                ArrayPool<T>.Shared.Return(partial);
                _partials[chunk] = null;
            }
        }
    }
}
