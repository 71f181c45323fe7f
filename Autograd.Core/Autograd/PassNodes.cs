using System.Buffers;
using System.Numerics;

namespace Autograd;

/// <summary>
/// The nodes one backward pass visits, latest first, and each node's position in that list (the pass's
/// visited set and index). Its arrays, and the pass's per-node arrays (<see cref="Rent{TItem}"/>), come
/// from <see cref="ArrayPool{T}.Shared"/> and go back when the pass ends: a 10,000-node pass would
/// otherwise allocate ~1 MB of lists, hash buckets and flags, most of it on the large object heap, where
/// each such allocation counts towards a gen-2 collection.
/// </summary>
/// <remarks>
/// The index is an open-addressing table keyed by node identity and hashed by <see cref="Node.Sequence"/>,
/// which is unique per node; nothing of it is stored on the nodes, so passes over a shared graph (other
/// threads, retainGraph) never see each other's state.
/// </remarks>
internal sealed class PassNodes<T> : IDisposable
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private Node<T>[] _nodes = ArrayPool<Node<T>>.Shared.Rent(16);
    private int _count;
    private Node<T>?[] _keys;
    private int[] _positions;
    private int _mask;
    private int _keyCount;
    private readonly List<Array> _rented = [];

    public PassNodes()
    {
        (_keys, _positions, _mask) = RentTable(32);
    }

    /// <summary>Number of nodes collected.</summary>
    public int Count => _count;

    /// <summary>Node <paramref name="n"/>, latest first once <see cref="Sort"/> ran.</summary>
    public Node<T> this[int n] => _nodes[n];

    /// <summary>Adds a node to the visited set; false when it was there already. Its position is set by <see cref="Append"/>.</summary>
    public bool TryAdd(Node<T> node)
    {
        var slot = Slot(node);
        if (_keys[slot] is not null)
        {
            return false;
        }

        _keys[slot] = node;
        _positions[slot] = -1;
        if (++_keyCount * 2 > _mask + 1)
        {
            Grow();
        }

        return true;
    }

    /// <summary>Appends a visited node to the list at the next position.</summary>
    public void Append(Node<T> node)
    {
        if (_count == _nodes.Length)
        {
            var larger = ArrayPool<Node<T>>.Shared.Rent(_count * 2);
            Array.Copy(_nodes, larger, _count);
            ArrayPool<Node<T>>.Shared.Return(_nodes, clearArray: true);
            _nodes = larger;
        }

        _positions[Slot(node)] = _count;
        _nodes[_count++] = node;
    }

    /// <summary>Whether the list is latest first (a chain pops in that order already).</summary>
    public bool IsSorted()
    {
        for (var n = 1; n < _count; n++)
        {
            if (_nodes[n - 1].Sequence <= _nodes[n].Sequence)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Sorts the list latest first and renumbers the positions.</summary>
    public void Sort()
    {
        Array.Sort(_nodes, 0, _count, LatestFirst.Instance);
        for (var n = 0; n < _count; n++)
        {
            _positions[Slot(_nodes[n])] = n;
        }
    }

    /// <summary>The position of a collected node.</summary>
    public int IndexOf(Node<T> node)
    {
        var slot = Slot(node);
        return _keys[slot] is not null
            ? _positions[slot]
            : throw new InvalidOperationException($"Backward: {node.Describe()} was reached but not collected; was it recorded during the pass?");
    }

    /// <summary>
    /// A cleared pooled array of at least <paramref name="length"/> items that lives as long as this pass
    /// (returned, cleared, by <see cref="Dispose"/>).
    /// </summary>
    public TItem[] Rent<TItem>(int length)
    {
        var array = ArrayPool<TItem>.Shared.Rent(Math.Max(length, 1));
        Array.Clear(array, 0, length);
        _rented.Add(array);
        return array;
    }

    public void Dispose()
    {
        // Cleared on return: a pooled array must not keep a graph or its gradients alive.
        ArrayPool<Node<T>>.Shared.Return(_nodes, clearArray: true);
        ArrayPool<Node<T>?>.Shared.Return(_keys, clearArray: true);
        ArrayPool<int>.Shared.Return(_positions);
        foreach (var array in _rented)
        {
            switch (array)
            {
                case Tensor<T>?[] tensors:
                    ArrayPool<Tensor<T>?>.Shared.Return(tensors, clearArray: true);
                    break;
                case bool[] flags:
                    ArrayPool<bool>.Shared.Return(flags);
                    break;
                case Node<T>?[] stack:
                    ArrayPool<Node<T>?>.Shared.Return(stack, clearArray: true);
                    break;
                default:
                    throw new InvalidOperationException($"PassNodes: no pool for {array.GetType()}.");
            }
        }

        _rented.Clear();
        _nodes = [];
        _keys = [];
        _positions = [];
        _count = 0;
    }

    /// <summary>The table slot of <paramref name="node"/>: where it is, or the free slot where it goes (linear probing).</summary>
    private int Slot(Node<T> node)
    {
        // Fibonacci hashing of the unique sequence number spreads consecutive numbers over the table.
        var slot = (int)((ulong)node.Sequence * 0x9E3779B97F4A7C15UL >> 32) & _mask;
        while (_keys[slot] is { } key && !ReferenceEquals(key, node))
        {
            slot = (slot + 1) & _mask;
        }

        return slot;
    }

    private void Grow()
    {
        var (oldKeys, oldPositions, oldMask) = (_keys, _positions, _mask);
        (_keys, _positions, _mask) = RentTable((oldMask + 1) * 2);
        for (var s = 0; s <= oldMask; s++)
        {
            if (oldKeys[s] is { } key)
            {
                var slot = Slot(key);
                _keys[slot] = key;
                _positions[slot] = oldPositions[s];
            }
        }

        ArrayPool<Node<T>?>.Shared.Return(oldKeys, clearArray: true);
        ArrayPool<int>.Shared.Return(oldPositions);
    }

    private static (Node<T>?[] Keys, int[] Positions, int Mask) RentTable(int capacity)
    {
        // Only the first `capacity` slots are used (a rented array may be longer); they start empty.
        var keys = ArrayPool<Node<T>?>.Shared.Rent(capacity);
        Array.Clear(keys, 0, capacity);
        return (keys, ArrayPool<int>.Shared.Rent(capacity), capacity - 1);
    }

    private sealed class LatestFirst : IComparer<Node<T>>
    {
        public static readonly LatestFirst Instance = new();

        public int Compare(Node<T>? a, Node<T>? b) => b!.Sequence.CompareTo(a!.Sequence);
    }
}
