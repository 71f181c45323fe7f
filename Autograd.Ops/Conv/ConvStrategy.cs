using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd.Kernels;

/// <summary>
/// One way of computing a convolution's three products for a run of consecutive images [n0, n0 + count):
/// the forward Y = conv(X, W) + b, the input gradient dX = ConvTranspose(dY, W) and the weight gradient
/// dW += Σ_n dY_n · cols_nᵀ. <see cref="ConvPlan.Choose{T}"/> picks one per call from the geometry (and
/// the input's layout); the passes in <see cref="ConvPlan"/> run it over the images, each worker with its
/// own <see cref="ScratchLength"/> of scratch. A strategy decides which kernels run and how a run of
/// images is cut into their calls (by image, group and block of output positions); the arithmetic is the
/// kernels' (<see cref="ConvColumns"/>, <see cref="WideConv"/>, <see cref="Winograd"/>,
/// <see cref="ShallowGemm"/>, <see cref="Gemm"/>).
/// </summary>
internal abstract class ConvStrategy<T>(ConvGeometry geometry)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The convolution's sizes.</summary>
    public ConvGeometry Geometry { get; } = geometry;

    /// <summary>
    /// How many consecutive images one call takes at most (runs never cross one of the pass's fixed chunks
    /// of images). A function of the strategy, so the fused and the recorded backward batch alike.
    /// </summary>
    public abstract int Batch { get; }

    /// <summary>Scratch elements one worker needs for runs of <see cref="Batch"/> images.</summary>
    public int ScratchLength => ScratchFor(Batch);

    /// <summary>Scratch elements one worker needs for runs of up to <paramref name="images"/> images.</summary>
    internal abstract int ScratchFor(int images);

    /// <summary>Y[n0 .. n0 + count) = conv(X, W) + b, every element written; <paramref name="y"/> dense [N, F, OH, OW].</summary>
    public abstract void Forward(Tensor<T> x, ConvFilters<T> w, T[]? b, Memory<T> y, int n0, int count, T[] scratch);

    /// <summary>
    /// dX[n0 .. n0 + count) = ConvTranspose(dY, W), every element of those images written (<paramref name="dx"/>
    /// dense [N, C, H, W], uninitialised); <paramref name="dy"/> dense [N, F, OH, OW] at <paramref name="dyOffset"/>.
    /// </summary>
    public abstract void InputGradient(ConvFilters<T> w, ReadOnlyMemory<T> dy, int dyOffset, Memory<T> dx, int n0, int count, T[] scratch);

    /// <summary>dW += Σ_{n ∈ [n0, n0 + count)} dY_n · cols(X_n)ᵀ per group, <paramref name="dw"/> [F, K] row-major.</summary>
    public abstract void WeightGradient(Tensor<T> x, ReadOnlyMemory<T> dy, int dyOffset, Memory<T> dw, int n0, int count, T[] scratch);

    /// <summary>y[offset + (n·channels + c)·plane ..] += bias[c], the bias of one output plane per channel.</summary>
    internal static void AddBias(Span<T> y, int offset, T[] bias, int n, int channels, int plane)
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

    /// <summary>
    /// Zeros dX's images [n0, n0 + count) for the strategies that add into them. dX comes uninitialised:
    /// each run of images clears its own planes just before it adds into them, while they are about to be
    /// in cache, instead of one pass over the whole gradient up front.
    /// </summary>
    protected void ClearImages(Memory<T> dx, int n0, int count)
    {
        var imageSize = Geometry.C * Geometry.H * Geometry.W;
        dx.Span.Slice(n0 * imageSize, count * imageSize).Clear();
    }
}
