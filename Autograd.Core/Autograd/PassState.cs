using System.Numerics;

namespace Autograd;

/// <summary>
/// Where a backward pass sends the gradients that reach leaves: into <c>Grad</c> (Backward), or to the
/// requested inputs (Tensor.Grad). A leaf with hooks gets its pass total at the end, so that its hooks
/// see one gradient per pass, as PyTorch's hooks on AccumulateGrad do.
/// </summary>
internal sealed class LeafGradients<T>(Targets<T>? targets, bool createGraph)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private Dictionary<Tensor<T>, Tensor<T>>? _hooked;

    public void Deliver(Tensor<T> leaf, Tensor<T> g)
    {
        if (targets is not null)
        {
            targets.CaptureLeaf(leaf, g);
        }
        else if (leaf._hooks is null)
        {
            Engine.AccumulateLeaf(leaf, g, createGraph);
        }
        else
        {
            _hooked ??= new(ReferenceEqualityComparer.Instance);
            _hooked[leaf] = _hooked.TryGetValue(leaf, out var sum) ? Engine.Sum(sum, g, createGraph) : g;
        }
    }

    public void Finish()
    {
        if (_hooked is null)
        {
            return;
        }

        foreach (var (leaf, g) in _hooked)
        {
            Engine.AccumulateLeaf(leaf, leaf._hooks!.Run(g, $"a leaf of shape {ShapeMath.Format(leaf._shape)}"), createGraph);
        }
    }
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
    public bool[] Plan(List<Node<T>> nodes, Dictionary<Node<T>, int> index, Tensor<T>[] roots, bool createGraph)
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
            var edges = node.Edges;
            for (var i = 0; i < edges.Length; i++)
            {
                var input = edges[i];
                if (!node.NeedsGrad(i))
                {
                    continue;
                }

                if (input._gradFn is { } producer)
                {
                    run[n] |= wanted[index[producer]];
                }
                else if (_leafSlots.TryGetValue(input, out var slot))
                {
                    run[n] = true;
                    reached[slot] = true;
                }
            }

            if (_nodeSlots.TryGetValue(node, out var own))
            {
                reached[own] = true;
                wanted[n] = true;
            }

            wanted[n] |= run[n];
        }

        if (!_allowUnused)
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

    public void CaptureNode(Node<T> node, Tensor<T> g)
    {
        if (_nodeSlots.TryGetValue(node, out var slot))
        {
            _grads[slot] = g;
        }
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

            if (x._gradFn is null && x._hooks is { } hooks)
            {
                using (new GradModeScope(_createGraph))
                {
                    g = hooks.Run(g, $"a leaf of shape {ShapeMath.Format(x._shape)}");
                }
            }

            _grads[slot] = _createGraph || g.IsContiguous ? g : new Tensor<T>(g.ToArray(), (int[])g._shape.Clone());
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
        new($"Grad: input {i} (shape {ShapeMath.Format(_inputs[i]._shape)}) was not used to compute the outputs, so no gradient reaches it; "
            + "pass allowUnused: true to get null for it.");
}
