using System.Numerics;
using Autograd.Kernels;

namespace Autograd;

/// <summary>
/// Gradient routing by indices saved in the forward pass (an argmax, a target class): the VJP of
/// Max, MaxPool2d and NllLoss. <see cref="Scatter{T}"/> adds each upstream element into the input
/// position its index names; <see cref="Gather{T}"/> reads those positions back. Each is the other's
/// adjoint and both are recorded ops, so the VJPs built on them can be differentiated again
/// (PyTorch's max_pool2d_with_indices_backward, whose own derivative is a gather).
/// </summary>
internal static class IndexRouting
{
    // Elements above which planes are spread over threads.
    private const long ParallelWork = 1L << 18;

    /// <summary>
    /// dst = zeros(<paramref name="shape"/>); dst.flat[index[o]] += src[o] for src read in row-major order
    /// (an index of −1 routes nowhere: an all-padding window). With <paramref name="planes"/> &gt; 1 the
    /// indices of src's plane p stay inside dst's plane p, so planes run in parallel without races.
    /// </summary>
    public static Tensor<T> Scatter<T>(Tensor<T> src, int[] index, int[] shape, string name, int planes = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = Tensor<T>.ZeroFilled((int[])shape.Clone());
        using (var sr = src.Read())
        using (var rw = result.Write())
        {
            var (data, offset) = sr.Dense;
            Route.ScatterAdd(data, offset, index, rw.Memory, planes, Parallel(planes, index.Length));
        }

        if (Tape.ShouldRecord(src))
        {
            var srcShape = src.ShapeArray;
            Tape.Record($"{name}Backward", result, [src], (g, grads) => grads[0] = Gather(g, index, srcShape, name, planes));
        }

        return result;
    }

    /// <summary>out[o] = src.flat[index[o]] (0 where the index is −1), of <paramref name="shape"/>: the adjoint of <see cref="Scatter{T}"/>.</summary>
    public static Tensor<T> Gather<T>(Tensor<T> src, int[] index, int[] shape, string name, int planes = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = Tensor<T>.Uninitialized((int[])shape.Clone());
        using (var sr = src.Read())
        using (var rw = result.Write())
        {
            Route.Gather(sr.ContiguousElements, index, rw.Span);
        }

        if (Tape.ShouldRecord(src))
        {
            var srcShape = src.ShapeArray;
            Tape.Record($"{name}BackwardBackward", result, [src], (g, grads) => grads[0] = Scatter(g, index, srcShape, name, planes));
        }

        return result;
    }

    private static bool Parallel(int planes, long work) => planes > 1 && Gemm.MaxThreads > 1 && work >= ParallelWork;
}
