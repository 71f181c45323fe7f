using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

/// <summary>
/// Reverse-mode driver: collects the nodes reachable from the root, runs their VJPs in reverse
/// tape order (a valid topological order, because an op's inputs were recorded before it), sums
/// gradients that meet at a tensor, and accumulates into the leaves' <c>Grad</c>.
/// </summary>
internal static class Engine
{
    // Leaf accumulation is serialised per leaf (striped by identity), so concurrent backward passes
    // that reach one parameter add into its Grad one after another.
    private static readonly Lock[] s_leafLocks = [.. Enumerable.Range(0, 64).Select(_ => new Lock())];

    /// <summary>
    /// Backward(): accumulates d(root)/d(leaf)·gradRoot into the <c>Grad</c> of every leaf that requires grad
    /// (and of non-leaves that asked for it with RetainGrad).
    /// </summary>
    public static void Backward<T>(Tensor<T> root, Tensor<T> gradRoot, bool retainGraph, bool createGraph)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Run([root], [gradRoot], retainGraph, createGraph, targets: null);

    /// <summary>
    /// Tensor.Grad: the gradients of <paramref name="outputs"/> (seeded with <paramref name="seeds"/>)
    /// with respect to <paramref name="inputs"/>, leaves or not, without touching any <c>Grad</c>. Runs only
    /// the VJPs on a path to an input. Null for an input no gradient reached.
    /// </summary>
    public static Tensor<T>?[] Grad<T>(Tensor<T>[] outputs, Tensor<T>[] seeds, Tensor<T>[] inputs, bool retainGraph, bool createGraph, bool allowUnused)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var targets = new Targets<T>(inputs, allowUnused);
        Run(outputs, seeds, retainGraph, createGraph, targets);
        return targets.Results();
    }

    /// <summary>
    /// One pass. Without <paramref name="targets"/> every collected node runs and leaves accumulate into
    /// <c>Grad</c>; with them, only nodes on a path to a target run and the targets' gradients are captured.
    /// With <paramref name="createGraph"/> the VJPs run with grad mode on, so the ops they call are recorded
    /// and the gradients can be differentiated again; sums of gradients are then recorded too.
    /// </summary>
    private static void Run<T>(Tensor<T>[] roots, Tensor<T>[] seeds, bool retainGraph, bool createGraph, Targets<T>? targets)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var op = targets is null ? "Backward" : "Grad";
        for (var r = 0; r < roots.Length; r++)
        {
            if (roots[r]._gradFn is null && !roots[r].RequiresGrad)
            {
                var which = roots.Length == 1 ? "the tensor" : $"output {r}";
                throw new InvalidOperationException(
                    $"{op}: {which} (shape {ShapeMath.Format(roots[r]._shape)}) does not require grad and was not produced by a recorded op; "
                    + "set RequiresGrad on the inputs before computing it, outside Tensor.NoGrad().");
            }
        }

        // Pass state lives here, not on the nodes: two passes over a shared graph (retainGraph, other
        // threads) must not see each other's pending gradients. Node i of the pass, latest first, has
        // its pending gradient in pending[i].
        var (nodes, index) = Collect(roots);
        var run = targets?.Plan(nodes, index, roots, createGraph);
        for (var n = 0; n < nodes.Count; n++)
        {
            var node = nodes[n];
            if (node.IsReleased && (run is null || run[n]))
            {
                throw new InvalidOperationException(
                    $"{op}: the graph through '{node.OpName}' (node #{node.Sequence}) was already freed by an earlier Backward() or Grad(); "
                    + "pass retainGraph: true to the first Backward() to go through it again.");
            }
        }

        // Atomic: until every VJP and hook has run, nothing a user can see changes. Leaf and RetainGrad
        // gradients wait in the pass (committed by leaves.Commit at the end), and the nodes that ran are
        // released only after that, so a pass that throws leaves every Grad and the graph as they were.
        var pending = new Tensor<T>?[nodes.Count];
        var leaves = new LeafGradients<T>(targets, createGraph);
        var ran = retainGraph ? null : new bool[nodes.Count];
        var scratch = new Tensor<T>?[4];
        using var mode = new GradModeScope(createGraph);
        for (var r = 0; r < roots.Length; r++)
        {
            if (roots[r]._gradFn is { } node)
            {
                var at = index[node];
                pending[at] = pending[at] is { } sum ? Sum(sum, seeds[r], createGraph) : seeds[r];
            }
            else
            {
                leaves.Deliver(roots[r], seeds[r]);
            }
        }

        for (var n = 0; n < nodes.Count; n++)
        {
            var node = nodes[n];
            var g = pending[n];
            pending[n] = null;
            if (g is null)
            {
                continue;
            }

            // The output's total gradient is known now: its hooks may replace it, then Tensor.Grad
            // captures it or RetainGrad stores it.
            if (node._hooks is { } hooks)
            {
                g = hooks.Run(g, $"the output of '{node.OpName}'");
            }

            if (targets is not null)
            {
                targets.CaptureNode(node, g);
                if (!run![n])
                {
                    continue;
                }
            }
            else if (node._retainGradOf is { } retained)
            {
                leaves.Retain(retained, g);
            }

            var inputs = node._inputs;
            if (scratch.Length < inputs.Length)
            {
                scratch = new Tensor<T>?[inputs.Length];
            }

            var grads = scratch.AsSpan(0, inputs.Length);
            grads.Clear();
            node.CheckSaved();
            node._vjp!(g, grads);
            for (var i = 0; i < inputs.Length; i++)
            {
                var gi = grads[i];
                var input = inputs[i];
                if (gi is null || !node.NeedsGrad(i))
                {
                    continue;
                }

                if (!ShapeMath.SameShape(gi._shape, input._shape))
                {
                    throw new GradientShapeException(node.OpName, i, gi._shape, input._shape);
                }

                if (input._gradFn is { } producer)
                {
                    var at = index[producer];
                    pending[at] = pending[at] is { } sum ? Sum(sum, gi, createGraph) : gi;
                }
                else
                {
                    leaves.Deliver(input, gi);
                }
            }

            grads.Clear();
            ran?[n] = true;
        }

        leaves.Commit();
        if (ran is not null)
        {
            for (var n = 0; n < nodes.Count; n++)
            {
                if (ran[n])
                {
                    nodes[n].Release();
                }
            }
        }

        // A quiet point: the pass's temporaries are unreachable now, so this is where the buffer pool
        // reclaims (a gen-1 collection when more than half its budget is out; see BufferPool).
        BufferPool.AfterBackward();
    }

    /// <summary>
    /// Nodes reachable from the roots, latest first (a root's node comes before every node recorded
    /// earlier), and each node's position in that list. The map doubles as the visited set. A released
    /// node has no inputs left; the pass throws if it would have to run it.
    /// </summary>
    private static (List<Node<T>> Nodes, Dictionary<Node<T>, int> Index) Collect<T>(Tensor<T>[] roots)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = new List<Node<T>>();
        var index = new Dictionary<Node<T>, int>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<Node<T>>();
        foreach (var root in roots)
        {
            if (root._gradFn is { } node && index.TryAdd(node, 0))
            {
                stack.Push(node);
            }
        }

        while (stack.Count > 0)
        {
            var node = stack.Pop();
            result.Add(node);
            var edges = node.Edges;
            for (var i = 0; i < edges.Length; i++)
            {
                if (edges[i]._gradFn is { } producer && node.NeedsGrad(i) && index.TryAdd(producer, 0))
                {
                    stack.Push(producer);
                }
            }
        }

        result.Sort(static (a, b) => b.Sequence.CompareTo(a.Sequence));
        for (var i = 0; i < result.Count; i++)
        {
            index[result[i]] = i;
        }

        return (result, index);
    }

    /// <summary>
    /// a + b into a fresh contiguous tensor (neither operand is written: either may be shared). With
    /// <paramref name="record"/> (createGraph) the sum is an op on the tape, d(a + b) = (g, g), so that
    /// gradients summed from several consumers stay differentiable.
    /// </summary>
    internal static Tensor<T> Sum<T>(Tensor<T> a, Tensor<T> b, bool record)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = new Tensor<T>(a.ToArray(), (int[])a._shape.Clone());
        result.AccumulateInPlace(b);
        if (record && Tape.ShouldRecord(a, b))
        {
            Tape.Record("Add", result, [a, b], static (g, grads) =>
            {
                grads[0] = g;
                grads[1] = g;
            });
        }

        return result;
    }

    /// <summary>
    /// Adds a gradient into <c>Grad</c>: a fresh contiguous copy the first time, then in place. With
    /// <paramref name="createGraph"/>, as PyTorch, out of place and recorded (Grad = Grad + g), so the
    /// stored gradient is part of the graph and can be differentiated.
    /// </summary>
    internal static void AccumulateLeaf<T>(Tensor<T> leaf, Tensor<T> g, bool createGraph)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        lock (s_leafLocks[RuntimeHelpers.GetHashCode(leaf) & (s_leafLocks.Length - 1)])
        {
            if (createGraph)
            {
                leaf.Grad = leaf.Grad is null ? g.Clone() : Sum(leaf.Grad, g, record: true);
            }
            else
            {
                AccumulateLeafLocked(leaf, g);
            }
        }
    }

    private static void AccumulateLeafLocked<T>(Tensor<T> leaf, Tensor<T> g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (leaf.Grad is null)
        {
            // A fresh copy: g may be a view shared with other gradients, or an expanded (stride-0) view.
            leaf.Grad = new Tensor<T>(g.ToArray(), (int[])leaf._shape.Clone());
        }
        else if (leaf.Grad.IsContiguous && Strided.IsNonOverlapping(leaf.Grad._shape, leaf.Grad._strides))
        {
            leaf.Grad.AccumulateInPlace(g);
        }
        else
        {
            leaf.Grad = Sum(leaf.Grad, g, record: false);
        }
    }
}
