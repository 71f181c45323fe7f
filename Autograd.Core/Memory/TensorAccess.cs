using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

/// <summary>
/// A kernel's read access to one tensor's elements: the storage's elements with the view's offset,
/// strides and shape. Taken with <c>using var xr = x.Read();</c>; until the end of that scope the
/// tensor, and so the pooled buffer behind <see cref="Span"/> and <see cref="Memory"/>, stays
/// reachable (<see cref="Dispose"/> is the one place that keeps it alive). A span or memory taken from
/// here must not outlive the scope.
/// </summary>
/// <remarks>
/// This is the one way code outside <see cref="Tensor{T}"/> reaches a storage's elements (docs/architecture.md,
/// "The memory boundary"): a pooled buffer goes back to the pool when its storage's lease is finalized,
/// which can happen as soon as nothing references the tensor, even while a span over the buffer is still
/// being read. <c>ArchitectureTests</c> fails the suite if an op file names the storage or GC.KeepAlive.
/// </remarks>
internal readonly ref struct TensorRead<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Tensor<T> _owner;

    internal TensorRead(Tensor<T> owner) => _owner = owner;

    /// <summary>Every element of the storage; element [i0, i1, …] is at <see cref="Offset"/> + Σ ik·Strides[k].</summary>
    public ReadOnlySpan<T> Span
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _owner.Storage.Span;
    }

    /// <summary>The storage's elements as memory, for kernels that hand them to worker threads inside this scope.</summary>
    public ReadOnlyMemory<T> Memory => _owner.Storage.Memory;

    /// <summary>Index of element [0, …, 0] in <see cref="Span"/>.</summary>
    public int Offset => _owner.Offset;

    public ReadOnlySpan<int> Shape => _owner.ShapeArray;

    public ReadOnlySpan<int> Strides => _owner.StridesArray;

    /// <summary>The <see cref="Tensor{T}.Numel"/> elements of a contiguous tensor, from <see cref="Offset"/>.</summary>
    public ReadOnlySpan<T> Elements
    {
        get
        {
            Debug.Assert(_owner.IsContiguous, "Elements needs a contiguous tensor");
            return _owner.Storage.Span.Slice(_owner.Offset, _owner.Numel);
        }
    }

    /// <summary>The elements in row-major order: <see cref="Elements"/> when the tensor is contiguous, else a copy.</summary>
    public ReadOnlySpan<T> ContiguousElements => _owner.IsContiguous ? Elements : _owner.ToArray();

    /// <summary>
    /// The row-major elements as (memory, offset), for kernels that need memory: the tensor's own storage
    /// when it is contiguous, else a copy at offset 0.
    /// </summary>
    public (ReadOnlyMemory<T> Data, int Offset) Dense => _owner.IsContiguous ? (Memory, Offset) : (_owner.ToArray(), 0);

    /// <summary>Keeps the tensor reachable up to here (the end of the <c>using</c> scope).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Dispose() => GC.KeepAlive(_owner);
}

/// <summary>
/// A kernel's write access to one tensor's elements, as <see cref="TensorRead{T}"/> with writable spans.
/// Writing does not bump the storage's version: an in-place op that writes a tensor the user holds calls
/// <see cref="Tensor{T}.BumpVersion"/> (a fresh result has nothing to invalidate).
/// </summary>
internal readonly ref struct TensorWrite<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Tensor<T> _owner;

    internal TensorWrite(Tensor<T> owner) => _owner = owner;

    /// <summary>Every element of the storage; element [i0, i1, …] is at <see cref="Offset"/> + Σ ik·Strides[k].</summary>
    public Span<T> Span
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _owner.Storage.Span;
    }

    /// <summary>The storage's elements as memory, for kernels that hand them to worker threads inside this scope.</summary>
    public Memory<T> Memory => _owner.Storage.Memory;

    /// <summary>Index of element [0, …, 0] in <see cref="Span"/>.</summary>
    public int Offset => _owner.Offset;

    public ReadOnlySpan<int> Shape => _owner.ShapeArray;

    public ReadOnlySpan<int> Strides => _owner.StridesArray;

    /// <summary>The <see cref="Tensor{T}.Numel"/> elements of a contiguous tensor, from <see cref="Offset"/>.</summary>
    public Span<T> Elements
    {
        get
        {
            Debug.Assert(_owner.IsContiguous, "Elements needs a contiguous tensor");
            return _owner.Storage.Span.Slice(_owner.Offset, _owner.Numel);
        }
    }

    /// <summary>Keeps the tensor reachable up to here (the end of the <c>using</c> scope).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Dispose() => GC.KeepAlive(_owner);
}

/// <summary>
/// A kernel's read access to a bare storage that no tensor views (max-pool's argmax taps, of byte or int),
/// as <see cref="TensorRead{T}"/>: taken with <c>using var ar = argmax.Read();</c>, and its
/// <see cref="Dispose"/> keeps the storage, and so its pooled buffer, alive to the end of the scope.
/// </summary>
internal readonly ref struct StorageRead<T>
    where T : unmanaged
{
    private readonly Storage<T> _owner;

    internal StorageRead(Storage<T> owner) => _owner = owner;

    /// <summary>Every element of the storage.</summary>
    public ReadOnlySpan<T> Span
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _owner.Span;
    }

    /// <summary>The elements as memory, for kernels that hand them to worker threads inside this scope.</summary>
    public ReadOnlyMemory<T> Memory => _owner.Memory;

    /// <summary>Keeps the storage reachable up to here (the end of the <c>using</c> scope).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Dispose() => GC.KeepAlive(_owner);
}
