using System.Numerics;

namespace Autograd;

/// <summary>
/// The gradients of one backward pass waiting at its nodes, and which of them the pass owns: the one
/// place where the engine decides which gradient buffers it may sum into in place, hand over as a
/// leaf's first <c>Grad</c>, or give back to the buffer pool early.
/// </summary>
/// <remarks>
/// <para>
/// The rules (docs/architecture.md, "How backward runs"; docs/performance.md, "Memory model"). A
/// gradient is <em>owned</em> by the pass when nothing outside the pass can reach it:
/// </para>
/// <list type="bullet">
/// <item>a gradient a built-in VJP (<see cref="Node{T}.IsBuiltIn"/>) returned that is fresh
/// (<see cref="IsFresh"/>: from offset 0 over its whole storage, each element once), not returned for another
/// input too, and not over the storage of the gradient the VJP was given unless the pass owned that one
/// (a transpose's VJP hands the buffer on) (<see cref="Returned"/>);</item>
/// <item>a sum the pass made of two gradients meeting at one tensor (<see cref="Add"/>, <see cref="Sum"/>).</item>
/// </list>
/// <para>
/// Never owned, whatever made them: seeds (the caller's gradOutput), what a hook is given or returns, a
/// gradient <c>Tensor.Grad</c> captures or <c>RetainGrad</c> keeps (<see cref="Disown"/>), what a
/// custom <see cref="Function{T}"/> is given or returns (its node is not built in), and every gradient of
/// a createGraph pass (the recorded graph holds them).
/// </para>
/// <para>
/// What the pass may do with an owned gradient: sum another into it in place (<see cref="Sum"/>), hand
/// it over as a leaf's first <c>Grad</c> (<see cref="HandOver"/>), and give its buffer back to the pool
/// once the last reader is done: the node's VJP, when that VJP is built in (it keeps no reference to what
/// it is given) and returned no view of it (<see cref="Done"/>); or a sum that consumed it
/// (<see cref="Recycle"/>).
/// </para>
/// <para>
/// One node's gradient is <em>in hand</em> at a time: from <see cref="Take"/> (the node's turn) to
/// <see cref="Done"/> (its VJP ran). A local of the pass (a ref struct, so a pass allocates nothing more
/// for it than the two per-node arrays it rents from the pass); calls mutate it in place, so it is never
/// copied or passed by value.
/// </para>
/// </remarks>
internal ref struct PendingGradients<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    // Node n's pending gradient, and whether the pass owns it; no ownership at all under createGraph.
    private readonly Tensor<T>?[] _pending;
    private readonly bool[]? _owned;
    private readonly bool _createGraph;

    // The gradient in hand: whether the pass owns it, whether its node's VJP is built in (its results may
    // be owned, and it kept no reference to the gradient), and whether a returned gradient is over its storage.
    private Tensor<T>? _inHand;
    private bool _inHandOwned;
    private bool _builtIn;
    private bool _inHandShared;

    /// <summary>An empty slot per node of <paramref name="nodes"/>, in arrays that live as long as the pass.</summary>
    public PendingGradients(PassNodes<T> nodes, bool createGraph)
    {
        _pending = nodes.Rent<Tensor<T>?>(nodes.Count);
        _owned = createGraph ? null : nodes.Rent<bool>(nodes.Count);
        _createGraph = createGraph;
    }

    /// <summary>
    /// A gradient arriving at node <paramref name="at"/> (a seed, or a VJP's result for an input that
    /// node produced); <paramref name="owned"/> when the pass owns it. Summed with what is already
    /// pending there (<see cref="Sum"/>): the sum is the pass's own.
    /// </summary>
    public void Add(int at, Tensor<T> g, bool owned)
    {
        if (_pending[at] is not { } sum)
        {
            _pending[at] = g;
            _owned?[at] = owned;
        }
        else
        {
            _pending[at] = Sum(sum, _owned?[at] == true, g, owned, _createGraph);
            _owned?[at] = true;
        }
    }

    /// <summary>
    /// Node <paramref name="n"/>'s turn: takes its total gradient out of the pass (null when none
    /// reached it) and puts it in hand, owned as it was pending. <paramref name="builtIn"/>: the node's
    /// VJP is the library's own (<see cref="Node{T}.IsBuiltIn"/>).
    /// </summary>
    public Tensor<T>? Take(int n, bool builtIn)
    {
        var g = _pending[n];
        _pending[n] = null;
        _inHand = g;
        _inHandOwned = g is not null && _owned?[n] == true;
        _builtIn = _owned is not null && builtIn;
        _inHandShared = false;
        return g;
    }

    /// <summary>
    /// A user can reach <paramref name="g"/>, the gradient in hand now (a hook's argument or its
    /// replacement, a captured Tensor.Grad result, a RetainGrad value): the pass gives it up.
    /// </summary>
    public void Disown(Tensor<T> g)
    {
        _inHand = g;
        _inHandOwned = false;
    }

    /// <summary>
    /// Whether the pass owns gradient <paramref name="i"/> of <paramref name="grads"/>, which the VJP of
    /// the node in hand returned: a built-in VJP's fresh tensor, over a storage of its own. A view of the
    /// gradient in hand is never owned (another input may hold the same view, as Add's two do), and keeps
    /// the gradient in hand out of the pool.
    /// </summary>
    public bool Returned(Span<Tensor<T>?> grads, int i)
    {
        var gi = grads[i]!;
        var aliasesInHand = ReferenceEquals(gi.Storage, _inHand!.Storage);
        _inHandShared |= aliasesInHand;

        // A view of the gradient in hand takes over its ownership when the pass owned it, no other returned
        // gradient is over it, and the view covers the whole buffer (a transpose or permute of it, as Linear's
        // Wᵀ sends back): the buffer then stays out of the pool and passes on whole.
        return _builtIn && (!aliasesInHand || _inHandOwned) && IsFresh(gi) && !SharedWithAnother(grads, i);
    }

    /// <summary>
    /// The VJP of the node in hand ran: the gradient in hand goes back to the pool when the pass owns it,
    /// the VJP is built in (so it kept no reference to it) and no gradient it returned is a view of it.
    /// </summary>
    public void Done()
    {
        if (_inHandOwned && _builtIn && !_inHandShared)
        {
            _inHand!.Storage.ReleaseToPool();
        }

        _inHand = null;
    }

    /// <summary>
    /// Adds <paramref name="g"/>, the gradient of <paramref name="view"/>'s output, into its view of node
    /// <paramref name="at"/>'s pending total when the pass owns that total whole (fresh and contiguous): what
    /// the sub-view's VJP and the sum would give, without the input-sized zero tensor. False leaves it to them.
    /// </summary>
    public bool TryAccumulateView(int at, SubViewNode<T> view, Tensor<T> g)
    {
        if (_owned is null || _pending[at] is not { } total || !_owned[at] || !IsFresh(total))
        {
            return false;
        }

        view.AccumulateInto(total, g);
        return true;
    }

    /// <summary>
    /// a + b for the pass: summed in place into whichever operand the pass owns (a + b and b + a round
    /// alike; the other is recycled when owned too), or into a fresh tensor (<see cref="Engine.Sum"/>,
    /// recorded under <paramref name="createGraph"/>). The result is the pass's own unless <paramref name="createGraph"/>.
    /// </summary>
    public static Tensor<T> Sum(Tensor<T> a, bool aOwned, Tensor<T> b, bool bOwned, bool createGraph)
    {
        if (aOwned)
        {
            a.AccumulateInPlace(b);
            Recycle(b, bOwned);
            return a;
        }

        if (bOwned)
        {
            b.AccumulateInPlace(a);
            return b;
        }

        return Engine.Sum(a, b, createGraph);
    }

    /// <summary>A gradient becoming a leaf's first <c>Grad</c>: handed over when the pass owns it and it is contiguous, else a contiguous copy (it may be a view shared with other gradients, expanded, or a transposed buffer).</summary>
    public static Tensor<T> HandOver(Tensor<T> g, bool owned)
    {
        if (owned && g.IsContiguous)
        {
            return g;
        }

        // A leaf's Grad is contiguous: a permuted buffer is copied out (and recycled when the pass owns it).
        var copy = g.ContiguousCopy();
        Recycle(g, owned);
        return copy;
    }

    /// <summary>Returns an owned gradient's buffer to the pool once it has been summed into another (nothing when not owned or not pooled).</summary>
    public static void Recycle(Tensor<T> g, bool owned)
    {
        if (owned)
        {
            g.Storage.ReleaseToPool();
        }
    }

    /// <summary>
    /// A buffer nothing else can be looking at: from offset 0 over its whole storage, each element once
    /// (contiguous, or a permutation of its dims such as a transpose). A view of part of a buffer (of an
    /// input, a saved tensor, a larger gradient) or an expanded one fails this and is never reused or recycled.
    /// </summary>
    private static bool IsFresh(Tensor<T> t) =>
        t.Offset == 0 && t.Storage.Length == t.Numel && (t.IsContiguous || Kernels.Strided.IsNonOverlapping(t.ShapeArray, t.StridesArray));

    /// <summary>True when another of the returned gradients is over the same storage as gradient <paramref name="i"/>.</summary>
    private static bool SharedWithAnother(Span<Tensor<T>?> grads, int i)
    {
        for (var j = 0; j < grads.Length; j++)
        {
            if (j != i && grads[j] is { } other && ReferenceEquals(other.Storage, grads[i]!.Storage))
            {
                return true;
            }
        }

        return false;
    }
}
