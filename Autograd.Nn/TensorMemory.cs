using System.Numerics;

namespace Autograd.Nn;

/// <summary>
/// In-place access for the optimiser kernels and the data loader, which write parameters, optimiser
/// state and batch buffers without recording anything. Elements are reached only inside a
/// <c>using</c> scope of <see cref="Writable{T}"/> or <c>tensor.Read()</c>, which keeps the tensor (and
/// its pooled buffer) alive while the spans are used; no span leaves that scope.
/// </summary>
internal static class TensorMemory
{
    /// <summary>
    /// Write access to a contiguous tensor (<c>using var w = TensorMemory.Writable(...)</c>, elements
    /// <c>w.Elements</c>); throws for a non-contiguous one. The caller bumps the version with <see cref="Written{T}"/>.
    /// </summary>
    public static TensorWrite<T> Writable<T>(Tensor<T> tensor, string op, string name)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!tensor.IsContiguous)
        {
            throw new ArgumentException($"{op}: {name} (shape {ShapeMath.Format(tensor.Shape)}, strides {ShapeMath.Format(tensor.Strides)}) is not contiguous; it is updated in place, so pass a contiguous tensor.");
        }

        return tensor.Write();
    }

    /// <summary>Records an in-place write (the storage's version counter), so a graph that saved the tensor detects it.</summary>
    public static void Written<T>(Tensor<T> tensor)
        where T : unmanaged, IFloatingPointIeee754<T>
        => tensor.BumpVersion();

    /// <summary>A contiguous tensor over <paramref name="buffer"/> without copying it (the buffer may be longer than the shape needs).</summary>
    public static Tensor<T> Wrap<T>(T[] buffer, int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
        => new(new Storage<T>(buffer), shape, ShapeMath.ContiguousStrides(shape), 0);
}
