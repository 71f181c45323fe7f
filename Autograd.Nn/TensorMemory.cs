using System.Numerics;

namespace Autograd.Nn;

/// <summary>
/// Direct access to a tensor's elements for the optimiser kernels and the data loader, which
/// write parameters, optimiser state and batch buffers in place without recording anything.
/// </summary>
internal static class TensorMemory
{
    /// <summary>The elements of a contiguous tensor, to be written; the caller bumps the version with <see cref="Written{T}"/>.</summary>
    public static Span<T> Writable<T>(Tensor<T> tensor, string op, string name)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!tensor.IsContiguous)
        {
            throw new ArgumentException($"{op}: {name} (shape {ShapeMath.Format(tensor.Shape)}, strides {ShapeMath.Format(tensor.Strides)}) is not contiguous; it is updated in place, so pass a contiguous tensor.");
        }

        return tensor.Storage.Span.Slice(tensor.Offset, tensor.Numel);
    }

    /// <summary>The elements in row-major order: the storage itself when contiguous, else a copy.</summary>
    public static ReadOnlySpan<T> Readable<T>(Tensor<T> tensor)
        where T : unmanaged, IFloatingPointIeee754<T>
        => tensor.ContiguousSpan();

    /// <summary>Records an in-place write (the storage's version counter), so a graph that saved the tensor detects it.</summary>
    public static void Written<T>(Tensor<T> tensor)
        where T : unmanaged, IFloatingPointIeee754<T>
        => tensor.BumpVersion();

    /// <summary>A contiguous tensor over <paramref name="buffer"/> without copying it (the buffer may be longer than the shape needs).</summary>
    public static Tensor<T> Wrap<T>(T[] buffer, int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
        => new(new Storage<T>(buffer), shape, ShapeMath.ContiguousStrides(shape), 0);
}
