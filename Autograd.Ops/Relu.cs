using System.Numerics;
using System.Runtime.Intrinsics;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class ReluExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// max(x, 0) elementwise. VJP: dx = g ⊙ [x &gt; 0] (seed 004: the derivative at 0 is taken as 0,
        /// as PyTorch does).
        /// </summary>
        public Tensor<T> Relu() =>
            // The output carries the mask: y > 0 exactly where x > 0, so the input need not be kept.
            ElementwiseOp.Unary<T, ReluKernel<T>>("Relu", x, ElementwiseOp.Saves.Output, static (g, x, y) => MaskedGradient(g, y));
    }

    /// <summary>
    /// dx = y &gt; 0 ? g : 0 in one pass (a select, not a multiply, so an infinite g where y ≤ 0 gives 0,
    /// not NaN). A broadcast scalar g (the gradient of a Sum) is read as one value, never expanded.
    /// </summary>
    private static Tensor<T> MaskedGradient<T>(Tensor<T> g, Tensor<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var n = y.Numel;
        var dx = Tensor<T>.Uninitialized((int[])y._shape.Clone());
        var scalar = IsBroadcastScalar(g);
        if (!scalar && !g.IsContiguous)
        {
            g = g.ContiguousCopy();
        }

        var chunks = Elementwise.Chunks(n);
        if (chunks == 1)
        {
            Mask(y._storage.Span.Slice(y._offset, n), scalar ? g._storage.Span.Slice(g._offset, 1) : g._storage.Span.Slice(g._offset, n), dx.Data);
            return dx;
        }

        var ym = y._storage.Memory.Slice(y._offset, n);
        var gm = g._storage.Memory.Slice(g._offset, scalar ? 1 : n);
        var dm = dx._storage.Memory;
        Threads.ForRanges(n, chunks, (start, end) => Mask<T>(ym.Span[start..end], scalar ? gm.Span : gm.Span[start..end], dm.Span[start..end]));
        return dx;
    }

    /// <summary>True when every element of <paramref name="g"/> is one storage element (all strides 0).</summary>
    private static bool IsBroadcastScalar<T>(Tensor<T> g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var s in g._strides)
        {
            if (s != 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>d[i] = y[i] &gt; 0 ? g[i] : 0, with g either as long as d or a single value.</summary>
    private static void Mask<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var i = 0;
        var one = g.Length == 1 && d.Length != 1;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var w = Vector256<T>.Count;
            var gv = one ? Vector256.Create(g[0]) : default;
            for (; i <= d.Length - w; i += w)
            {
                var mask = Vector256.GreaterThan(Vector256.Create(y.Slice(i, w)), Vector256<T>.Zero);
                var gi = one ? gv : Vector256.Create(g.Slice(i, w));
                (mask & gi).CopyTo(d.Slice(i, w));
            }
        }

        for (; i < d.Length; i++)
        {
            d[i] = y[i] > T.Zero ? g[one ? 0 : i] : T.Zero;
        }
    }

    private readonly struct ReluKernel<T> : IUnaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // max(x, 0) keeps NaN (TensorPrimitives.Max propagates NaN, like torch.relu).
        public static void Row(ReadOnlySpan<T> x, Span<T> d) => TP.Max(x, T.Zero, d);
    }
}
