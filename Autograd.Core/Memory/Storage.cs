using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Autograd.Kernels;

namespace Autograd;

/// <summary>
/// The flat buffer behind one or more tensors. Views share a storage; each keeps its own
/// shape, strides and offset into it.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="Version"/> counts in-place writes, so that a VJP can detect that a tensor it saved
/// was changed after the op was recorded (PyTorch's version counter).
/// </para>
/// <para>
/// Buffers of at least <see cref="BufferPool.MinPooledBytes"/> come from <see cref="BufferPool{T}"/> and
/// go back to it when no tensor can read them any more: the pool holds a weak handle to this storage, and
/// after a collection it takes back the buffers of the storages found unreachable (see docs/performance.md,
/// "Memory model"). Ops reach the elements only through <see cref="Span"/> and <see cref="Memory"/>,
/// never through the array, so nothing outlives the storage that owns the buffer.
/// </para>
/// <para>
/// A one-element storage (a scalar, the result of an op on one, its gradient) keeps its element in a field
/// of its own and has no array: one object instead of two for the commonest tensor of a scalar tape.
/// </para>
/// </remarks>
public sealed class Storage<T>
    where T : unmanaged
{
    private readonly int _length;
    private T[]? _array;
    private PooledBuffer<T>? _pooled;
    internal int _version;

    /// <summary>The element of a one-element storage, when <see cref="_array"/> is null (any T of at most 8 bytes).</summary>
    private long _inline;

    /// <summary>Wraps an array the caller hands over (not pooled; the GC frees it).</summary>
    internal Storage(T[] data)
    {
        _array = data;
        _length = data.Length;
    }

    /// <summary>A one-element storage holding <paramref name="value"/> (no array).</summary>
    internal Storage(T value)
    {
        _length = 1;
        if (!CanInline)
        {
            _array = [value];
            return;
        }

        Unsafe.As<long, T>(ref _inline) = value;
    }

    /// <summary>
    /// A buffer of <paramref name="length"/> elements from the pool (zeroed when <paramref name="clear"/>);
    /// one element is kept inline (zero, like every fresh field).
    /// </summary>
    internal Storage(int length, bool clear)
    {
        _length = length;
        if (length == 1 && CanInline)
        {
            return;
        }

        _array = BufferPool<T>.Rent(length, out var pooled);
        if (pooled)
        {
            _pooled = new PooledBuffer<T>(_array);
            BufferPool.Track(this, _pooled);
        }

        if (clear)
        {
            Span.Clear();
        }
    }

    /// <summary>Number of elements the buffer holds.</summary>
    public int Length => _length;

    /// <summary>Incremented by every in-place write through any tensor over this storage.</summary>
    public int Version => _version;

    /// <summary>Notes one in-place write (every view of this storage sees the new version).</summary>
    internal void BumpVersion() => Interlocked.Increment(ref _version);

    /// <summary>True when the buffer came from the pool (and goes back to it).</summary>
    internal bool IsPooled => _pooled is not null;

    /// <summary>The elements (the one way kernels read and write a storage on the calling thread).</summary>
    internal Span<T> Span
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _array is { } array ? array.AsSpan(0, _length) : MemoryMarshal.CreateSpan(ref Unsafe.As<long, T>(ref _inline), 1);
    }

    /// <summary>
    /// The elements as a <see cref="Memory{T}"/>, for kernels that hand them to worker threads (over the
    /// inline element, a small manager that is made per call).
    /// </summary>
    internal Memory<T> Memory => _array is { } array ? new(array, 0, _length) : new InlineMemory(this).Memory;

    /// <summary>Whether a one-element storage of T keeps its element inline (T fits the 8-byte field).</summary>
    private static bool CanInline => Unsafe.SizeOf<T>() <= sizeof(long);

    /// <summary>
    /// Read access for a kernel, valid until the end of the <c>using</c> scope that holds it, which keeps
    /// this storage (and its pooled buffer) alive: for storages no tensor views (tensors have <c>Read()</c>).
    /// </summary>
    internal StorageRead<T> Read() => new(this);

    /// <summary>Element <paramref name="index"/> by reference (checked).</summary>
    internal ref T this[int index] => ref Span[index];

    /// <summary>
    /// Gives the buffer back to the pool now. Only the engine calls this, for gradients it created and
    /// no tensor outside the backward pass can reach; any later access throws instead of reading reused memory.
    /// </summary>
    internal void ReleaseToPool()
    {
        if (Interlocked.Exchange(ref _pooled, null) is { } pooled)
        {
            _array = [];
            pooled.ReturnNow();
        }
    }

    /// <summary>
    /// A <see cref="Memory{T}"/> over the inline element. The storage holds references, so the GC cannot pin
    /// it by handle: <see cref="Pin"/> is refused (kernels reach the elements through spans, which
    /// <c>fixed</c> can pin).
    /// </summary>
    private sealed class InlineMemory(Storage<T> storage) : MemoryManager<T>
    {
        public override Span<T> GetSpan() => storage.Span;

        public override MemoryHandle Pin(int elementIndex = 0) =>
            throw new NotSupportedException("Storage: the memory of a one-element storage cannot be pinned by handle; pin its Span with 'fixed'.");

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}

/// <summary>
/// One pooled array on behalf of one <see cref="Storage{T}"/>: handed back by <see cref="ReturnNow"/> (the engine's
/// eager release) or by the pool once its weak handle finds the storage unreachable, whichever comes first, once.
/// </summary>
internal sealed class PooledBuffer<T>(T[] array) : PooledBuffer
    where T : unmanaged
{
    private T[]? _array = array;

    public override bool Returned => Volatile.Read(ref _array) is null;

    public override void ReturnNow()
    {
        if (Interlocked.Exchange(ref _array, null) is { } a)
        {
            BufferPool<T>.Return(a);
        }
    }
}

/// <summary>A pooled array of any element type, as the pool's registry of live storages sees it.</summary>
internal abstract class PooledBuffer
{
    /// <summary>Whether the array has gone back to the pool.</summary>
    public abstract bool Returned { get; }

    /// <summary>Gives the array back to the pool (nothing when it already went back).</summary>
    public abstract void ReturnNow();
}
