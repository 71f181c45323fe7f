using System.Numerics;

namespace Autograd;

/// <summary>
/// Where a backward pass sends the gradients that reach leaves: into <c>Grad</c> (Backward), or to the
/// requested inputs (Tensor.Grad). Backward's leaf and RetainGrad gradients are summed here, privately,
/// and written into <c>Grad</c> only by <see cref="RunHooks"/> and <see cref="Write"/> once every VJP has run: a pass that throws
/// changes no <c>Grad</c>. A leaf's hooks see its pass total, once per pass, as PyTorch's hooks on
/// AccumulateGrad do: as soon as the total is final (<see cref="Ready"/>, while the rest of the pass runs) or
/// at the commit, and all of them run before the first <c>Grad</c> is written. Post-accumulate-grad hooks run
/// after every <c>Grad</c> of the pass is written.
/// </summary>
internal sealed class LeafGradients<T>(Targets<T>? targets, bool createGraph) : ILeafSink
    where T : unmanaged, IFloatingPointIeee754<T>
{
    // Pass totals in first-delivery order (commits happen in a fixed order), and where each tensor's is.
    // Owned: the pass made the total and nothing else references it (the rules are PendingGradients').
    private List<(Tensor<T> Tensor, Tensor<T> Grad, bool Owned)>? _totals;
    private HashSet<Tensor<T>>? _hooked;
    private Dictionary<Tensor<T>, int>? _slots;

    /// <summary>A gradient reaching a leaf; <paramref name="owned"/> when the pass owns it.</summary>
    public void Deliver(Tensor<T> leaf, Tensor<T> g, bool owned)
    {
        if (targets is not null)
        {
            targets.CaptureLeaf(leaf, g);
        }
        else
        {
            Add(leaf, g, owned);
        }
    }

    /// <summary>The total gradient of a non-leaf that asked for RetainGrad (it arrives once per pass; the pass keeps using it).</summary>
    public void Retain(Tensor<T> tensor, Tensor<T> g) => Add(tensor, g, owned: false);

    private void Add(Tensor<T> tensor, Tensor<T> g, bool owned)
    {
        _totals ??= [];
        _slots ??= new(ReferenceEqualityComparer.Instance);
        if (_slots.TryGetValue(tensor, out var slot))
        {
            var (_, sum, sumOwned) = _totals[slot];
            _totals[slot] = (tensor, PendingGradients<T>.Sum(sum, sumOwned, g, owned, createGraph), !createGraph);
        }
        else
        {
            _slots[tensor] = _totals.Count;
            _totals.Add((tensor, g, owned));
        }
    }

    /// <summary>
    /// The pass total of <paramref name="leaf"/> is final (no node left in the pass sends it more): its hooks
    /// run now instead of at the commit. Nothing is written into <c>Grad</c> yet.
    /// </summary>
    public void Ready(Tensor<T> leaf)
    {
        if (_slots is not null && _slots.TryGetValue(leaf, out var slot))
        {
            RunSlotHooks(slot);
        }
    }

    /// <summary>Runs the hooks of the leaves not run yet (any may throw: nothing is written yet); <see cref="Write"/> then adds every total into its <c>Grad</c>.</summary>
    public void RunHooks()
    {
        for (var i = 0; i < (_totals?.Count ?? 0); i++)
        {
            RunSlotHooks(i);
        }
    }

    private void RunSlotHooks(int slot)
    {
        var (tensor, g, _) = _totals![slot];
        if (tensor._gradFn is null && tensor.LeafHooks is { } hooks && (_hooked ??= new(ReferenceEqualityComparer.Instance)).Add(tensor))
        {
            // The hooks see the total and may keep it or what they return: neither is the pass's to reuse.
            _totals[slot] = (tensor, hooks.Run(g, $"a leaf of shape {ShapeMath.Format(tensor.ShapeArray)}"), false);
        }
    }

    /// <summary>Runs the post-accumulate-grad hooks of the leaves that got a gradient (after <see cref="Write"/> of every sink).</summary>
    public void RunPostAccumulateHooks()
    {
        foreach (var (tensor, _, _) in _totals ?? [])
        {
            if (tensor._gradFn is null && tensor.PostAccumulateGradHooks is { } hooks)
            {
                hooks.Run(tensor, $"a leaf of shape {ShapeMath.Format(tensor.ShapeArray)}");
            }
        }
    }

    /// <summary>Adds every total into its <c>Grad</c> (after <see cref="RunHooks"/> of every sink of the pass).</summary>
    public void Write()
    {
        if (_totals is null)
        {
            return;
        }

        foreach (var (tensor, g, owned) in _totals)
        {
            Engine.AccumulateLeaf(tensor, g, createGraph, owned);
        }
    }
}

/// <summary>The leaf sink of one element type, committed in two phases so that a throwing hook of any type changes no Grad.</summary>
internal interface ILeafSink
{
    void RunHooks();

    void Write();

    void RunPostAccumulateHooks();
}

/// <summary>
/// The inputs of one <see cref="Tensor.Grad{T}(Tensor{T}[], Tensor{T}[], Tensor{T}?[], bool?, bool, bool)"/> call:
/// which leaves and nodes to capture, which nodes must run to reach them, and the captured sums. An input
/// listed twice shares one slot.
/// </summary>
internal sealed class Targets<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Tensor<T>[] _inputs;
    private readonly bool _allowUnused;
    private readonly Dictionary<Tensor<T>, int> _leafSlots = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Node<T>, int> _nodeSlots = new(ReferenceEqualityComparer.Instance);
    private readonly int[] _slotOf;
    private readonly List<Tensor<T>> _slotTensors = [];
    private Tensor<T>?[] _grads = [];
    private bool _createGraph;

    public Targets(Tensor<T>[] inputs, bool allowUnused)
    {
        _inputs = inputs;
        _allowUnused = allowUnused;
        _slotOf = new int[inputs.Length];
        var slots = new Dictionary<Tensor<T>, int>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < inputs.Length; i++)
        {
            var x = inputs[i];
            if (!slots.TryGetValue(x, out var slot))
            {
                slot = _slotTensors.Count;
                slots[x] = slot;
                _slotTensors.Add(x);
                if (x._gradFn is { } node)
                {
                    _nodeSlots[node] = slot;
                }
                else
                {
                    _leafSlots[x] = slot;
                }
            }

            _slotOf[i] = slot;
        }

        _grads = new Tensor<T>?[_slotTensors.Count];
    }

    /// <summary>
    /// Which nodes must run their VJP: those with an input that is a target leaf, or whose producer runs
    /// or is a target itself. Producers come later in the list (they were recorded earlier), so one walk
    /// from the end decides every node. Throws for an input no path reaches, unless allowUnused.
    /// </summary>
    public bool[] Plan(PassNodes<T> nodes, Tensor<T>[] roots, bool createGraph, bool checkUnused)
    {
        _createGraph = createGraph;
        var run = new bool[nodes.Count];
        var wanted = new bool[nodes.Count];
        var reached = new bool[_grads.Length];
        foreach (var root in roots)
        {
            if (root._gradFn is null && _leafSlots.TryGetValue(root, out var slot))
            {
                reached[slot] = true;
            }
        }

        for (var n = nodes.Count - 1; n >= 0; n--)
        {
            var node = nodes[n];
            for (var i = 0; i < node.InputCount; i++)
            {
                if (!node.NeedsGrad(i))
                {
                    continue;
                }

                if (node.Producer(i) is { } producer)
                {
                    run[n] |= wanted[nodes.IndexOf(producer)];
                }
                else if (node.Leaf(i) is { } leaf && _leafSlots.TryGetValue(leaf, out var slot))
                {
                    run[n] = true;
                    reached[slot] = true;
                }
            }

            // A cast continues into a graph of the other element type, which may lead back to a target
            // (float → double → float): it runs, and whether every input was reached is known only
            // from what was captured (Results).
            if (node._crossesType)
            {
                run[n] = true;
                checkUnused = false;
            }

            if (_nodeSlots.TryGetValue(node, out var own))
            {
                reached[own] = true;
                wanted[n] = true;
            }

            wanted[n] |= run[n];
        }

        if (!_allowUnused && checkUnused)
        {
            for (var i = 0; i < _inputs.Length; i++)
            {
                if (!reached[_slotOf[i]])
                {
                    throw Unused(i);
                }
            }
        }

        return run;
    }

    /// <summary>Keeps g when node's output is a target; true then (g is the caller's now).</summary>
    public bool CaptureNode(Node<T> node, Tensor<T> g)
    {
        // Summed: a pass that crosses a cast reaches a node once directly and once more through the
        // nested pass behind the cast, each time with part of its gradient.
        if (_nodeSlots.TryGetValue(node, out var slot))
        {
            _grads[slot] = _grads[slot] is { } sum ? Engine.Sum(sum, g, _createGraph) : g;
            return true;
        }

        return false;
    }

    public void CaptureLeaf(Tensor<T> leaf, Tensor<T> g)
    {
        if (_leafSlots.TryGetValue(leaf, out var slot))
        {
            _grads[slot] = _grads[slot] is { } sum ? Engine.Sum(sum, g, _createGraph) : g;
        }
    }

    /// <summary>
    /// The gradient per input, in the caller's order. Leaf hooks see the pass total here. Without
    /// createGraph a strided or expanded gradient is returned as a contiguous copy.
    /// </summary>
    public Tensor<T>?[] Results()
    {
        for (var slot = 0; slot < _grads.Length; slot++)
        {
            var x = _slotTensors[slot];
            if (_grads[slot] is not { } g)
            {
                continue;
            }

            if (x._gradFn is null && x.LeafHooks is { } hooks)
            {
                using (new GradModeScope(_createGraph))
                {
                    g = hooks.Run(g, $"a leaf of shape {ShapeMath.Format(x.ShapeArray)}");
                }
            }

            _grads[slot] = _createGraph || g.IsContiguous ? g : g.ContiguousCopy();
        }

        var result = new Tensor<T>?[_inputs.Length];
        for (var i = 0; i < _inputs.Length; i++)
        {
            result[i] = _grads[_slotOf[i]];
            if (result[i] is null && !_allowUnused)
            {
                throw Unused(i);
            }
        }

        return result;
    }

    private InvalidOperationException Unused(int i) =>
        new($"Grad: input {i} (shape {ShapeMath.Format(_inputs[i].ShapeArray)}) was not used to compute the outputs, so no gradient reaches it; "
            + "pass allowUnused: true to get null for it.");
}

/// <summary>
/// A backward pass running on this thread: its element type, mode and sinks. Passes nest when a cast's
/// VJP continues a pass into a graph of the other element type (<see cref="Engine.CrossType{T}"/>);
/// the nested pass finds here the targets and leaves of the nearest pass of its own type, or the sinks the
/// outermost pass keeps for a type no running pass has, which it commits with its own.
/// </summary>
internal sealed class PassFrame(Type elementType, bool targetMode, bool createGraph, object? targets, ILeafSink leaves, PassFrame? outer)
{
    public Type ElementType { get; } = elementType;

    /// <summary>True for Tensor.Grad (nothing may touch a <c>Grad</c>), false for Backward.</summary>
    public bool TargetMode { get; } = targetMode;

    public bool CreateGraph { get; } = createGraph;

    public object? Targets { get; } = targets;

    public ILeafSink Leaves { get; } = leaves;

    public PassFrame? Outer { get; } = outer;

    public PassFrame Root => Outer?.Root ?? this;

    public PassFrame? Nearest(Type elementType)
    {
        for (var f = this; f is not null; f = f.Outer)
        {
            if (f.ElementType == elementType)
            {
                return f;
            }
        }

        return null;
    }

    /// <summary>
    /// Commits the pass: every sink's leaf hooks first (this frame's, then those of the types reached
    /// only through casts), then every write, so that a throwing hook of any type changes no Grad; then the
    /// post-accumulate-grad hooks, which see every Grad of the pass written.
    /// </summary>
    public void Commit()
    {
        Leaves.RunHooks();
        foreach (var orphan in _orphans?.Values ?? Enumerable.Empty<PassFrame>())
        {
            orphan.Leaves.RunHooks();
        }

        Leaves.Write();
        foreach (var orphan in _orphans?.Values ?? Enumerable.Empty<PassFrame>())
        {
            orphan.Leaves.Write();
        }

        Leaves.RunPostAccumulateHooks();
        foreach (var orphan in _orphans?.Values ?? Enumerable.Empty<PassFrame>())
        {
            orphan.Leaves.RunPostAccumulateHooks();
        }
    }

    private Dictionary<Type, PassFrame>? _orphans;

    /// <summary>The shared sinks of an element type that no running pass has (kept by the outermost pass).</summary>
    public PassFrame Orphan(Type elementType, Func<PassFrame, PassFrame> create)
    {
        _orphans ??= [];
        if (!_orphans.TryGetValue(elementType, out var frame))
        {
            _orphans[elementType] = frame = create(this);
        }

        return frame;
    }
}
