namespace Autograd;

public sealed partial class Tensor<T>
{
    /// <summary>
    /// Hooks of leaves (a non-leaf keeps its hooks on its node, where the pass finds them), kept beside
    /// the few leaves that have any: a field would cost every tensor, most of them op results, 8 bytes.
    /// </summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Tensor<T>, HookList<T>> s_leafHooks = new();

    /// <summary>Set once a hook was registered on this leaf, so that the pass looks it up only then.</summary>
    private bool _hasLeafHooks;

    /// <summary>The hooks registered on this leaf, or null.</summary>
    internal HookList<T>? LeafHooks => _hasLeafHooks && s_leafHooks.TryGetValue(this, out var hooks) ? hooks : null;

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Tensor<T>, HookList<T>> s_postAccumulateHooks = new();

    private bool _hasPostAccumulateHooks;

    /// <summary>The post-accumulate-grad hooks registered on this leaf, or null.</summary>
    internal HookList<T>? PostAccumulateGradHooks => _hasPostAccumulateHooks && s_postAccumulateHooks.TryGetValue(this, out var hooks) ? hooks : null;

    internal bool RequiresGradInternal
    {
        set => _requiresGrad = value;
    }

    /// <summary>
    /// Walks the tape in reverse from this tensor and accumulates d(this)/d(leaf) · gradOutput into the
    /// <c>Grad</c> of every leaf that requires grad (and of non-leaves that called <see cref="RetainGrad"/>).
    /// Without <paramref name="gradOutput"/> the tensor must have one element (a loss) and the seed is 1.
    /// The nodes used are released unless <paramref name="retainGraph"/> is true (its default is
    /// <paramref name="createGraph"/>); a second pass through a released node throws. With
    /// <paramref name="createGraph"/> the backward pass is itself recorded: the <c>Grad</c>s it writes are
    /// graph-connected tensors that can be differentiated again (PyTorch's create_graph).
    /// </summary>
    public void Backward(Tensor<T>? gradOutput = null, bool? retainGraph = null, bool createGraph = false)
    {
        var seed = Seed(this, gradOutput, "Backward", nameof(gradOutput));
        Engine.Backward(this, seed, retainGraph ?? createGraph, createGraph);
    }

    /// <summary>
    /// Registers <paramref name="hook"/> to be called with the gradient of this tensor every time one is
    /// computed (for a leaf, once per pass with the pass's total, before it is added into <c>Grad</c>: as
    /// soon as no node left in the pass sends it more, while the rest of the pass runs, as PyTorch's hooks
    /// on AccumulateGrad; a pass through a <c>Cast</c> runs them when it commits).
    /// Returning a tensor of the same shape replaces the gradient; returning null keeps it. Hooks run in
    /// registration order; with createGraph the gradient they see is graph-connected. The handle removes
    /// the hook (PyTorch's register_hook).
    /// </summary>
    public HookHandle RegisterHook(Func<Tensor<T>, Tensor<T>?> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        if (!_requiresGrad)
        {
            throw new InvalidOperationException(
                $"RegisterHook: the tensor (shape {ShapeMath.Format(_shape)}) does not require grad, so no gradient will ever reach a hook on it.");
        }

        // Created once even when two threads register at the same time.
        if (_gradFn is { } node)
        {
            return node.AddHooks().Add(hook);
        }

        var hooks = s_leafHooks.GetValue(this, static _ => new HookList<T>());
        _hasLeafHooks = true;
        return hooks.Add(hook);
    }

    /// <summary>
    /// Registers <paramref name="hook"/> on this leaf, to be called with the leaf itself after each
    /// <see cref="Backward"/> has added its gradient into <see cref="Grad"/> (PyTorch's
    /// register_post_accumulate_grad_hook: an optimiser step fused into backward, gradient reduction).
    /// A pass writes every <c>Grad</c> at its end, so the hooks of one pass run then, after all its writes,
    /// in the order the leaves first got a gradient. <see cref="Tensor.Grad{T}(Tensor{T}[], Tensor{T}[], Tensor{T}?[], bool?, bool, bool)"/> never calls them.
    /// </summary>
    public HookHandle RegisterPostAccumulateGradHook(Action<Tensor<T>> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        if (_gradFn is not null || !_requiresGrad)
        {
            throw new InvalidOperationException(
                $"RegisterPostAccumulateGradHook: the tensor (shape {ShapeMath.Format(_shape)}) is {(_gradFn is not null ? "not a leaf (it was produced by a recorded op)" : "a leaf that does not require grad")}; only leaves that require grad accumulate into Grad.");
        }

        var hooks = s_postAccumulateHooks.GetValue(this, static _ => new HookList<T>());
        _hasPostAccumulateHooks = true;
        return hooks.Add(t =>
        {
            hook(t);
            return null;
        });
    }

    /// <summary>Registers a hook that looks at the gradient without replacing it (see <see cref="RegisterHook(Func{Tensor{T}, Tensor{T}?})"/>).</summary>
    public HookHandle RegisterHook(Action<Tensor<T>> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        return RegisterHook(g =>
        {
            hook(g);
            return null;
        });
    }

    /// <summary>
    /// Makes <see cref="Backward"/> store this non-leaf tensor's gradient in <see cref="Grad"/> too
    /// (accumulating over passes, like a leaf's); a no-op for leaves, which always get one. After any
    /// hooks, as PyTorch's retain_grad. <see cref="Tensor.Grad{T}(Tensor{T}[], Tensor{T}[], Tensor{T}?[], bool?, bool, bool)"/> never writes it.
    /// </summary>
    public void RetainGrad()
    {
        if (_gradFn is { } node)
        {
            node.RetainGradOf = this;
        }
        else if (!_requiresGrad)
        {
            throw new InvalidOperationException(
                $"RetainGrad: the tensor (shape {ShapeMath.Format(_shape)}) does not require grad and was not produced by a recorded op.");
        }
    }

    /// <summary>True for a non-leaf whose gradient <see cref="Backward"/> stores in <see cref="Grad"/> (see <see cref="RetainGrad"/>).</summary>
    public bool RetainsGrad => ReferenceEquals(_gradFn?.RetainGradOf, this);

    /// <summary>A tensor over the same storage that is not recorded and does not require grad.</summary>
    public Tensor<T> Detach() => new(_storage, _shape, _strides, _offset);

    /// <summary>
    /// Throws for a null tensor argument of <paramref name="op"/>, saying the usual cause: a leaf's
    /// <see cref="Grad"/> stays null until a backward pass sends it a gradient (issue 9: the bare
    /// "Value cannot be null. (Parameter 'b')" of <c>w - lr * w.Grad</c> said nothing).
    /// </summary>
    internal static void ThrowIfNullArgument(Tensor<T>? t, string op, string argument)
    {
        if (t is null)
        {
            throw new ArgumentNullException(
                argument,
                $"{op}: argument '{argument}' is null. If it is a Grad: a leaf's Grad stays null until a Backward() pass sends it a gradient, "
                + "so check that Backward() ran, that the leaf requires grad, and that the loss uses it outside Tensor.NoGrad() and not through Detach() "
                + "(Tensor.Grad(loss, leaf) throws naming an input the loss does not reach). Optimisers skip parameters whose Grad is null.");
        }
    }

    /// <summary>
    /// The seed of a pass from <paramref name="output"/>: <paramref name="gradOutput"/> checked against its
    /// shape, or 1 for a one-element output.
    /// </summary>
    internal static Tensor<T> Seed(Tensor<T> output, Tensor<T>? gradOutput, string op, string argument)
    {
        if (gradOutput is null)
        {
            if (output.Numel != 1)
            {
                throw new InvalidOperationException(
                    $"{op}: an implicit gradient needs a one-element tensor, this one has shape {ShapeMath.Format(output._shape)}; pass {argument} of that shape.");
            }

            return new Tensor<T>(new Storage<T>(T.One), (int[])output._shape.Clone());
        }

        if (!ShapeMath.SameShape(gradOutput._shape, output._shape))
        {
            throw new ArgumentException(
                $"{op}: {argument} has shape {ShapeMath.Format(gradOutput._shape)} but the tensor has shape {ShapeMath.Format(output._shape)}.",
                argument);
        }

        return gradOutput;
    }
}
