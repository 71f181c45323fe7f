using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

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
        public Tensor<T> Relu([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            // The output carries the mask: y > 0 exactly where x > 0, so the input need not be kept.
            ElementwiseOp.Unary<T, ReluKernel<T>>("Relu", new CallSite(callerFile, callerLine), x, ElementwiseOp.Saves.Output, static (g, x, y) => MaskedGradient(g, y));
    }

    /// <summary>
    /// g ⊙ [y &gt; 0]. The mask is constant where it is defined, so this is linear in g and its own VJP
    /// (PyTorch's threshold_backward): recorded when g requires grad (createGraph), so the gradient can be
    /// differentiated again; d/dy is zero and y is not an input of that node.
    /// </summary>
    private static Tensor<T> MaskedGradient<T>(Tensor<T> g, Tensor<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // One pass, y > 0 ? g : 0, into a pooled buffer (a select, not a multiply, so an infinite g where
        // y ≤ 0 gives 0, not NaN). A broadcast scalar g (the gradient of a Sum) is read as one value,
        // never expanded; any other non-contiguous g is copied once.
        var dx = Tensor<T>.Uninitialized((int[])y.ShapeArray.Clone());
        var gd = Elementwise.IsBroadcastScalar(g) || g.IsContiguous ? g : g.ContiguousCopy();
        Elementwise.MaskPositive(y, gd, dx);
        if (Tape.ShouldRecord(g))
        {
            Tape.Record("ReluBackward", dx, [g], (gg, grads) => grads[0] = MaskedGradient(gg, y), y);
        }

        return dx;
    }

    private readonly struct ReluKernel<T> : IUnaryOp<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // max(x, 0) keeps NaN (as TensorPrimitives.Max and torch.relu); a large output streams its stores.
        public static void Row(ReadOnlySpan<T> x, Span<T> d) => MaskKernel.Relu(x, d, MaskKernel.Streams<T>(d.Length));
    }
}
