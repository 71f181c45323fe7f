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

    public static void Run<T>(Tensor<T> root, Tensor<T> gradRoot, bool retainGraph)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (root._gradFn is null)
        {
            if (!root.RequiresGrad)
            {
                throw new InvalidOperationException(
                    $"Backward: the tensor (shape {ShapeMath.Format(root._shape)}) does not require grad and was not produced by a recorded op; "
                    + "set RequiresGrad on the inputs before computing it, outside Tensor.NoGrad().");
            }

            AccumulateLeaf(root, gradRoot);
            return;
        }

        // Pass state lives here, not on the nodes: two passes over a shared graph (retainGraph, other
        // threads) must not see each other's pending gradients. Node i of the pass, latest first, has
        // its pending gradient in pending[i].
        var (nodes, index) = Collect(root._gradFn);
        var pending = new Tensor<T>?[nodes.Count];
        pending[0] = gradRoot;
        var scratch = new Tensor<T>?[4];
        using var mode = new GradModeScope(false);
        for (var n = 0; n < nodes.Count; n++)
        {
            var node = nodes[n];
            var g = pending[n];
            pending[n] = null;
            if (g is null)
            {
                continue;
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
                if (gi is null || !input.RequiresGrad)
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
                    pending[at] = pending[at] is { } sum ? Sum(sum, gi) : gi;
                }
                else
                {
                    AccumulateLeaf(input, gi);
                }
            }

            grads.Clear();
            if (!retainGraph)
            {
                node.Release();
            }
        }
    }

    /// <summary>
    /// Nodes reachable from the root, latest first (the root is first: every other node was recorded
    /// before it), and each node's position in that list. The map doubles as the visited set.
    /// </summary>
    private static (List<Node<T>> Nodes, Dictionary<Node<T>, int> Index) Collect<T>(Node<T> root)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = new List<Node<T>>();
        var index = new Dictionary<Node<T>, int>(ReferenceEqualityComparer.Instance) { [root] = 0 };
        var stack = new Stack<Node<T>>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            if (node.IsReleased)
            {
                throw new InvalidOperationException(
                    $"Backward: the graph through '{node.OpName}' (node #{node.Sequence}) was already freed by an earlier Backward(); "
                    + "pass retainGraph: true to the first Backward() to go through it again.");
            }

            result.Add(node);
            foreach (var input in node._inputs)
            {
                if (input._gradFn is { } producer && input.RequiresGrad && index.TryAdd(producer, 0))
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

    /// <summary>a + b into a fresh contiguous tensor (neither operand is written: either may be shared).</summary>
    private static Tensor<T> Sum<T>(Tensor<T> a, Tensor<T> b)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = new Tensor<T>(a.ToArray(), (int[])a._shape.Clone());
        result.AccumulateInPlace(b);
        return result;
    }

    private static void AccumulateLeaf<T>(Tensor<T> leaf, Tensor<T> g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        lock (s_leafLocks[RuntimeHelpers.GetHashCode(leaf) & (s_leafLocks.Length - 1)])
        {
            AccumulateLeafLocked(leaf, g);
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
            leaf.Grad = Sum(leaf.Grad, g);
        }
    }
}
