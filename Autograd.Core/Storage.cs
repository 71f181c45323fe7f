namespace Autograd;

/// <summary>
/// The flat buffer behind one or more tensors. Views share a storage; each keeps its own
/// shape, strides and offset into it.
/// </summary>
/// <remarks>
/// <see cref="Version"/> counts in-place writes, so that a VJP can detect that a tensor it saved
/// was changed after the op was recorded (PyTorch's version counter).
/// </remarks>
public sealed class Storage<T>
    where T : unmanaged
{
    internal readonly T[] _data;
    internal int _version;

    internal Storage(T[] data)
    {
        _data = data;
    }

    /// <summary>Number of elements the buffer holds.</summary>
    public int Length => _data.Length;

    /// <summary>Incremented by every in-place write through any tensor over this storage.</summary>
    public int Version => _version;

    /// <summary>Notes one in-place write (every view of this storage sees the new version).</summary>
    internal void BumpVersion() => Interlocked.Increment(ref _version);
}
