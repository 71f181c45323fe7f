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
        var leaves = new LeafGradients<T>(targets, createGraph);
        var frame = new PassFrame(typeof(T), targets is not null, createGraph, targets, leaves, t_frame);
        t_frame = frame;
        try
        {
            Run(roots, seeds, retainGraph, createGraph, targets, leaves, root: frame);
        }
        finally
        {
            t_frame = frame.Outer;
        }

        // A quiet point: the pass's temporaries are unreachable now, so this is where the buffer pool
        // reclaims (a gen-1 collection when more than half its budget is out; see BufferPool).
        BufferPool.AfterBackward();
    }

    /// <summary>
    /// The VJP of a cast (<see cref="Tensor{T}.Cast{TOut}"/>): continues the running pass through the
    /// cast's input, whose graph has the other element type, with the gradient converted to it. The tape
    /// is typed, so this is a nested pass over that graph, but it belongs to the pass that called it: it
    /// records with the same createGraph, captures into the same Tensor.Grad targets (the nearest running
    /// pass of this element type; a Tensor.Grad pass with none here captures nothing and touches no Grad),
    /// and sends leaf gradients to that pass's leaves (or, with no pass of this type running, delivers
    /// them when the outermost pass finishes). It retains the graph behind the cast, which the enclosing
    /// pass may still have to walk (another cast of it, or a direct path); the GC collects it.
    /// </summary>
    internal static void CrossType<T>(Tensor<T> input, Tensor<T> gradient)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (t_frame is not { } outer)
        {
            // Not inside a pass (a VJP called by hand): an ordinary pass of its own.
            Run([input], [gradient], retainGraph: true, createGraph: false, targets: null);
            return;
        }

        // The sinks of the nearest pass of this type; with none running, one pair per type kept by the
        // outermost pass, so that every cast into this type shares it and leaf hooks see one total.
        var same = outer.Nearest(typeof(T)) ?? outer.Root.Orphan(typeof(T), root =>
        {
            var targets = root.TargetMode ? new Targets<T>([], allowUnused: true) : null;
            return new PassFrame(typeof(T), root.TargetMode, root.CreateGraph, targets, new LeafGradients<T>(targets, root.CreateGraph), outer: null);
        });
        var targets = (Targets<T>?)same.Targets;
        var leaves = (LeafGradients<T>)same.Leaves;
        var frame = new PassFrame(typeof(T), outer.TargetMode, outer.CreateGraph, targets, leaves, outer);

        t_frame = frame;
        try
        {
            Run([input], [gradient], retainGraph: true, outer.CreateGraph, targets, leaves, root: null);
        }
        finally
        {
            t_frame = outer;
        }
    }

    [ThreadStatic]
    private static PassFrame? t_frame;

    private static void Run<T>(Tensor<T>[] roots, Tensor<T>[] seeds, bool retainGraph, bool createGraph, Targets<T>? targets, LeafGradients<T> leaves, PassFrame? root)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var op = targets is null ? "Backward" : "Grad";
        for (var r = 0; r < roots.Length; r++)
        {
            if (roots[r]._gradFn is null && !roots[r].RequiresGrad)
            {
                var which = roots.Length == 1 ? "the tensor" : $"output {r}";
                throw new InvalidOperationException(
                    $"{op}: {which} (shape {ShapeMath.Format(roots[r].ShapeArray)}) does not require grad and was not produced by a recorded op; "
                    + "set RequiresGrad on the inputs before computing it, outside Tensor.NoGrad().");
            }
        }

        // Pass state lives here, not on the nodes: two passes over a shared graph (retainGraph, other
        // threads) must not see each other's pending gradients. Node n of the pass, latest first, has
        // its pending gradient in slot n of pending.
        using var nodes = Collect(roots);
        var run = targets?.Plan(nodes, roots, createGraph, checkUnused: root is not null);
        for (var n = 0; n < nodes.Count; n++)
        {
            var node = nodes[n];
            if (node.IsReleased && (run is null || run[n]))
            {
                throw new InvalidOperationException(
                    $"{op}: the graph through {node.Describe()} was already freed by an earlier Backward() or Grad(); "
                    + "pass retainGraph: true to the first Backward() to go through it again.");
            }
        }

        // Atomic: until every VJP and hook has run, nothing a user can see changes. Leaf and RetainGrad
        // gradients wait in the pass (committed by leaves.Commit at the end), and the nodes that ran are
        // released only after that, so a pass that throws leaves every Grad and the graph as they were.
        // Which gradients the pass owns, and so may sum into, hand over or recycle, is PendingGradients'.
        var pending = new PendingGradients<T>(nodes, createGraph);
        var ran = retainGraph ? null : nodes.Rent<bool>(nodes.Count);
        var ready = targets is null && root is not null ? ReadyLeaves(nodes) : null;
        var scratch = new Tensor<T>?[4];
        using var mode = new GradModeScope(createGraph);
        for (var r = 0; r < roots.Length; r++)
        {
            if (roots[r]._gradFn is { } node)
            {
                pending.Add(nodes.IndexOf(node), seeds[r], owned: false);
            }
            else
            {
                leaves.Deliver(roots[r], seeds[r], owned: false);
            }
        }

        for (var n = 0; n < nodes.Count; n++)
        {
            var node = nodes[n];
            var g = pending.Take(n, node.IsBuiltIn);
            if (g is null)
            {
                LeavesReady(ready, n, leaves);
                continue;
            }

            // The output's total gradient is known now: its hooks may replace it, then Tensor.Grad
            // captures it or RetainGrad stores it. Each of them lets a user keep it.
            if (node.Hooks is { } hooks)
            {
                g = hooks.Run(g, $"the output of '{node.OpName}'");
                pending.Disown(g);
            }

            if (targets is not null)
            {
                if (targets.CaptureNode(node, g))
                {
                    pending.Disown(g);
                }

                if (!run![n])
                {
                    continue;
                }
            }
            else if (node.RetainGradOf is { } retained)
            {
                leaves.Retain(retained, g);
                pending.Disown(g);
            }

            var inputCount = node.InputCount;
            if (scratch.Length < inputCount)
            {
                scratch = new Tensor<T>?[inputCount];
            }

            var grads = scratch.AsSpan(0, inputCount);
            grads.Clear();
            node.CheckSaved();
            // With createGraph the ops this node's VJP records, and the sums of the gradients it sends on,
            // are the gradient of this node: they name the line that recorded it (the forward op), not a
            // line inside the library.
            var site = createGraph ? CallSite.Enter(node.CallSite.FilePath, node.CallSite.Line) : default;
            try
            {
                if (!createGraph && !Anomaly.IsEnabled && node is SubViewNode<T> view && node.NeedsGrad(0)
                    && node.Input(0)._gradFn is { } parent && pending.TryAccumulateView(nodes.IndexOf(parent), view, g))
                {
                    // A later sub-view of a tensor whose pending total the pass owns: added into it in place.
                    inputCount = 0;
                }
                else
                {
                    node.Vjp(g, grads);
                }

                if (Anomaly.IsEnabled)
                {
                    Anomaly.CheckBackward(node, g, grads);
                }

                for (var i = 0; i < inputCount; i++)
                {
                    var gi = grads[i];
                    if (gi is null || !node.NeedsGrad(i))
                    {
                        continue;
                    }

                    var input = node.Input(i);
                    if (!ShapeMath.SameShape(gi.ShapeArray, input.ShapeArray))
                    {
                        throw new GradientShapeException(node, i, gi.ShapeArray, input.ShapeArray);
                    }

                    var owned = pending.Returned(grads, i);
                    if (input._gradFn is { } producer)
                    {
                        pending.Add(nodes.IndexOf(producer), gi, owned);
                    }
                    else
                    {
                        leaves.Deliver(input, gi, owned);
                    }
                }
            }
            finally
            {
                if (createGraph)
                {
                    site.Dispose();
                }
            }

            grads.Clear();
            ran?[n] = true;
            pending.Done();
            LeavesReady(ready, n, leaves);
        }

        // A nested pass (behind a cast) belongs to the outermost one, which commits every sink and
        // releases its nodes once all of them ran (a nested pass retains its graph).
        if (root is not null)
        {
            root.Commit();
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
        }
    }

    /// <summary>
    /// The leaves with hooks, grouped by the position of the last node of the pass that sends them a
    /// gradient: once that node has run, the leaf's pass total is final and its hooks may see it, while
    /// the rest of the pass runs (PyTorch runs a leaf's hooks when its AccumulateGrad node runs; data-parallel
    /// training starts reducing a gradient there). Null when no leaf has hooks, or when a node crosses to
    /// the other element type: a nested pass may then still deliver, so the hooks wait for the commit.
    /// </summary>
    private static Dictionary<int, List<Tensor<T>>>? ReadyLeaves<T>(PassNodes<T> nodes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Dictionary<Tensor<T>, int>? last = null;
        for (var n = 0; n < nodes.Count; n++)
        {
            var node = nodes[n];
            if (node._crossesType)
            {
                return null;
            }

            for (var i = 0; i < node.InputCount; i++)
            {
                if (node.NeedsGrad(i) && node.Leaf(i) is { LeafHooks: not null } leaf)
                {
                    last ??= new(ReferenceEqualityComparer.Instance);
                    last[leaf] = n;
                }
            }
        }

        if (last is null)
        {
            return null;
        }

        var byNode = new Dictionary<int, List<Tensor<T>>>();
        foreach (var (leaf, n) in last)
        {
            if (!byNode.TryGetValue(n, out var list))
            {
                byNode[n] = list = [];
            }

            list.Add(leaf);
        }

        return byNode;
    }

    private static void LeavesReady<T>(Dictionary<int, List<Tensor<T>>>? ready, int n, LeafGradients<T> leaves)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (ready is not null && ready.TryGetValue(n, out var list))
        {
            foreach (var leaf in list)
            {
                leaves.Ready(leaf);
            }
        }
    }

    /// <summary>
    /// Nodes reachable from the roots, latest first (a root's node comes before every node recorded
    /// earlier), and each node's position in that list. A released node keeps its edges (producers and
    /// leaves); the pass throws if it would have to run it.
    /// </summary>
    private static PassNodes<T> Collect<T>(Tensor<T>[] roots)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var nodes = new PassNodes<T>();
        try
        {
            // The DFS stack is a pooled array too (a deep chain holds few nodes on it, a wide graph many).
            var stack = nodes.Rent<Node<T>?>(16);
            var top = 0;
            foreach (var root in roots)
            {
                if (root._gradFn is { } node && nodes.TryAdd(node))
                {
                    Push(ref stack, ref top, node, nodes);
                }
            }

            // Positions are assigned as nodes are popped. A chain (and many a graph) pops in decreasing
            // sequence already; only when it did not is the list sorted and the positions redone.
            while (top > 0)
            {
                var node = stack[--top]!;
                stack[top] = null;
                nodes.Append(node);
                for (var i = 0; i < node.InputCount; i++)
                {
                    if (node.NeedsGrad(i) && node.Producer(i) is { } producer && nodes.TryAdd(producer))
                    {
                        Push(ref stack, ref top, producer, nodes);
                    }
                }
            }

            if (!nodes.IsSorted())
            {
                nodes.Sort();
            }

            return nodes;
        }
        catch
        {
            nodes.Dispose();
            throw;
        }
    }

    private static void Push<T>(ref Node<T>?[] stack, ref int top, Node<T> node, PassNodes<T> nodes)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (top == stack.Length)
        {
            var larger = nodes.Rent<Node<T>?>(top * 2);
            Array.Copy(stack, larger, top);
            stack = larger;
        }

        stack[top++] = node;
    }

    /// <summary>
    /// a + b into a fresh contiguous tensor (neither operand is written: either may be shared). With
    /// <paramref name="record"/> (createGraph) the sum is an op on the tape, d(a + b) = (g, g), so that
    /// gradients summed from several consumers stay differentiable.
    /// </summary>
    internal static Tensor<T> Sum<T>(Tensor<T> a, Tensor<T> b, bool record)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = a.ContiguousCopy();
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
    /// Adds a gradient into <c>Grad</c>: the first time, g itself when the pass owns it (handed over, no
    /// copy), else a fresh contiguous copy; then in place, recycling an owned g. With
    /// <paramref name="createGraph"/>, as PyTorch, out of place and recorded (Grad = Grad + g), so the
    /// stored gradient is part of the graph and can be differentiated.
    /// </summary>
    internal static void AccumulateLeaf<T>(Tensor<T> leaf, Tensor<T> g, bool createGraph, bool owned)
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
                AccumulateLeafLocked(leaf, g, owned);
            }
        }
    }

    private static void AccumulateLeafLocked<T>(Tensor<T> leaf, Tensor<T> g, bool owned)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (leaf.Grad is null)
        {
            // Not owned: g may be a view shared with other gradients, or an expanded (stride-0) view.
            leaf.Grad = PendingGradients<T>.HandOver(g, owned);
            return;
        }

        if (leaf.Grad.IsContiguous && Strided.IsNonOverlapping(leaf.Grad.ShapeArray, leaf.Grad.StridesArray))
        {
            leaf.Grad.AccumulateInPlace(g);
        }
        else
        {
            leaf.Grad = Sum(leaf.Grad, g, record: false);
        }

        PendingGradients<T>.Recycle(g, owned);
    }
}
