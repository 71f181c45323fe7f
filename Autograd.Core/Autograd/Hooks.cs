using System.Numerics;

namespace Autograd;

/// <summary>
/// Removes a hook registered with <see cref="Tensor{T}.RegisterHook(Func{Tensor{T}, Tensor{T}?})"/>
/// (PyTorch's RemovableHandle). <see cref="Remove"/> and <see cref="Dispose"/> do the same; a second call does nothing.
/// </summary>
public sealed class HookHandle : IDisposable
{
    private Action? _remove;

    internal HookHandle(Action remove)
    {
        _remove = remove;
    }

    /// <summary>Unregisters the hook: later backward passes no longer call it.</summary>
    public void Remove() => Interlocked.Exchange(ref _remove, null)?.Invoke();

    public void Dispose() => Remove();
}

/// <summary>
/// The gradient hooks of one tensor, in registration order. Copy-on-write: a backward pass reads one
/// array while other threads add or remove hooks.
/// </summary>
internal sealed class HookList<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Lock _lock = new();
    private Entry[] _entries = [];

    public HookHandle Add(Func<Tensor<T>, Tensor<T>?> hook)
    {
        // An entry object, so that the same delegate registered twice is two hooks with two handles.
        var entry = new Entry(hook);
        lock (_lock)
        {
            _entries = [.. _entries, entry];
        }

        return new HookHandle(() =>
        {
            lock (_lock)
            {
                _entries = [.. _entries.Where(e => !ReferenceEquals(e, entry))];
            }
        });
    }

    /// <summary>
    /// Calls each hook on the gradient in turn; a hook returning a tensor replaces the gradient for the
    /// hooks after it and for the rest of the pass. A replacement must keep the shape.
    /// </summary>
    public Tensor<T> Run(Tensor<T> grad, string owner)
    {
        foreach (var entry in Volatile.Read(ref _entries))
        {
            if (entry.Hook(grad) is { } replaced)
            {
                if (!ShapeMath.SameShape(replaced.ShapeArray, grad.ShapeArray))
                {
                    throw new InvalidOperationException(
                        $"Backward: a hook on {owner} returned a gradient of shape {ShapeMath.Format(replaced.ShapeArray)} for a gradient of shape {ShapeMath.Format(grad.ShapeArray)}; a hook may change values, not the shape.");
                }

                grad = replaced;
            }
        }

        return grad;
    }

    private sealed record Entry(Func<Tensor<T>, Tensor<T>?> Hook);
}
