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

            AccumulateLeaf(root, gradRoot, owned: false);
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

        // owned[i]: pending[i] is a buffer this pass created that nothing else references (a fresh result
        // of a built-in VJP, or a sum made here), so it can go back to the pool as soon as it has been used.
        // Not while VJPs are being recorded (grad mode on): the recorded graph then holds them.
        var owned = Tape.IsGradEnabled ? null : new bool[nodes.Count];
        for (var n = 0; n < nodes.Count; n++)
        {
            var node = nodes[n];
            var g = pending[n];
            pending[n] = null;
            if (g is null)
            {
                continue;
            }

            var gOwned = owned?[n] == true;
            var builtIn = owned is not null && node._builtIn;
            var inputs = node._inputs;
            if (scratch.Length < inputs.Length)
            {
                scratch = new Tensor<T>?[inputs.Length];
            }

            var grads = scratch.AsSpan(0, inputs.Length);
            grads.Clear();
            node.CheckSaved();
            node._vjp!(g, grads);
            var gShared = false;
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

                // A built-in VJP returns fresh tensors or views of g; a view of g is never owned (another
                // input may hold the same view, as Add's two gradients do).
                var aliasesG = ReferenceEquals(gi._storage, g._storage);
                gShared |= aliasesG;
                var giOwned = builtIn && !aliasesG && !SharedWithAnother(grads, i);
                if (input._gradFn is { } producer)
                {
                    var at = index[producer];
                    if (pending[at] is not { } sum)
                    {
                        pending[at] = gi;
                        owned?[at] = giOwned;
                    }
                    else if (owned?[at] == true && sum.IsContiguous)
                    {
                        sum.AccumulateInPlace(gi);
                        Release(gi, giOwned);
                    }
                    else
                    {
                        pending[at] = Sum(sum, gi);
                        Release(sum, owned?[at] == true);
                        Release(gi, giOwned);
                        owned?[at] = owned is not null;
                    }
                }
                else
                {
                    AccumulateLeaf(input, gi, giOwned);
                }
            }

            grads.Clear();
            if (!retainGraph)
            {
                node.Release();
            }

            // The VJP is done with g and, being built-in, kept no reference to it.
            Release(g, gOwned && builtIn && !gShared);
        }

        BufferPool.AfterBackward();
    }

    /// <summary>True when another of the returned gradients is over the same storage as gradient <paramref name="i"/>.</summary>
    private static bool SharedWithAnother<T>(Span<Tensor<T>?> grads, int i)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (var j = 0; j < grads.Length; j++)
        {
            if (j != i && grads[j] is { } other && ReferenceEquals(other._storage, grads[i]!._storage))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Returns an engine-owned gradient's buffer to the pool (no-op when not owned or not pooled).</summary>
    private static void Release<T>(Tensor<T> t, bool owned)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (owned)
        {
            t._storage.ReleaseToPool();
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
        var result = a.ContiguousCopy();
        result.AccumulateInPlace(b);
        return result;
    }

    /// <summary>
    /// Adds g into leaf.Grad. A first gradient that this pass owns is handed over as it is (no copy);
    /// one the pass does not own is copied, since it may be a view shared with other gradients or an
    /// expanded (stride-0) view.
    /// </summary>
    private static void AccumulateLeaf<T>(Tensor<T> leaf, Tensor<T> g, bool owned)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        lock (s_leafLocks[RuntimeHelpers.GetHashCode(leaf) & (s_leafLocks.Length - 1)])
        {
            if (leaf.Grad is null)
            {
                leaf.Grad = owned && g.IsContiguous ? g : g.ContiguousCopy();
                return;
            }

            if (leaf.Grad.IsContiguous && Strided.IsNonOverlapping(leaf.Grad._shape, leaf.Grad._strides))
            {
                leaf.Grad.AccumulateInPlace(g);
            }
            else
            {
                leaf.Grad = Sum(leaf.Grad, g);
            }
        }

        Release(g, owned);
    }
}
