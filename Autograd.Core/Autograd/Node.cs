using System.Numerics;

namespace Autograd;

/// <summary>
/// The vector-Jacobian product of one recorded op: given the gradient of the loss with respect to
/// the op's output, write the gradient with respect to each input into <paramref name="inputGrads"/>
/// (same order as the recorded inputs; leave null where an input needs none).
/// </summary>
public delegate void VjpFunc<T>(Tensor<T> gradOutput, Span<Tensor<T>?> inputGrads)
    where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>One entry on the tape: an op's name, its place in recording order and, until released, its VJP.</summary>
public abstract class Node
{
    private protected Node(string opName, long sequence, CallSite callSite)
    {
        OpName = opName;
        Sequence = sequence;
        CallSite = callSite;
    }

    /// <summary>The op that recorded this node ("MatMul", "Conv2d", ...).</summary>
    public string OpName { get; }

    /// <summary>Position on the tape: later ops have larger numbers, so reverse order is a valid backward order.</summary>
    public long Sequence { get; }

    /// <summary>
    /// The file and line of the user code that recorded this node (see <see cref="Autograd.CallSite"/>);
    /// <see cref="CallSite.Unknown"/> for nodes recorded by C# operators or params overloads.
    /// </summary>
    public CallSite CallSite { get; }

    /// <summary>True once a backward pass without retainGraph has used and freed this node.</summary>
    public bool IsReleased => Volatile.Read(ref _released) != 0;

    /// <summary>1 once released (set once, by <c>Node{T}.Release</c>).</summary>
    private protected int _released;

    public override string ToString() =>
        (IsReleased ? $"{OpName}#{Sequence} (released)" : $"{OpName}#{Sequence}") + (CallSite.IsKnown ? $" at {CallSite}" : "");

    /// <summary>How errors name this node: <c>'Mul' (node #12) at Train.cs:42</c> (<see cref="CallSite.Describe"/>).</summary>
    internal string Describe() => CallSite.Describe(OpName, Sequence, CallSite);
}

/// <summary>
/// A tape node for tensors of element type <typeparamref name="T"/>. The library's own ops record
/// subclasses that are their own VJP (the node holds what the VJP reads, so recording allocates one
/// object, not a node, a closure and a delegate); the others record a <see cref="DelegateNode{T}"/> around a
/// <see cref="VjpFunc{T}"/>, and a custom op (<see cref="Function{T}"/>) a <see cref="FunctionNode{T}"/> around
/// its backward. Not derivable outside the library.
/// </summary>
public abstract class Node<T> : Node
    where T : unmanaged, IFloatingPointIeee754<T>
{
    // The graph's edges, one per input. Until release each is the input tensor. On release a non-leaf
    // input is replaced by its producing node (a leaf stays: it is user-owned, and its identity is what
    // Tensor.Grad and hooks look up), so the input's storage can be collected while a later pass can
    // still find its way, as PyTorch keeps a released node's edges. Up to two live inline; more in
    // _extras.Edges. What most nodes never need (many inputs or saved tensors, hooks, RetainGrad) lives in
    // _extras, allocated only for them: the node of a scalar op is the recording's largest object.
    private object? _edge0;
    private object? _edge1;
    private NodeExtras<T>? _extras;
    private readonly int _inputCount;
    internal readonly Tape _tape;

    // The saved tensors' storage versions at record time: the first two here, which tensors they are is
    // the node type's (SavedTensor); more than two, with their tensors, in _extras.SavedRest. A node type
    // whose fields already hold what it saved (inputs, output) so keeps no second reference to it.
    private readonly int _savedVersion0;
    private readonly int _savedVersion1;
    private readonly byte _savedCount;

    /// <summary>Free for the node type to say which of its tensors it saved (see <see cref="SavedTensor"/>).</summary>
    private protected byte _savedSet;

    /// <summary>
    /// Records a node over <paramref name="inputs"/> (copied) on the current tape, with the next sequence
    /// number and the call site <paramref name="callSite"/> resolves to. <paramref name="saved"/> lists the
    /// tensors whose values the VJP reads (nulls skipped); their versions are noted now. A null input is one
    /// the node makes only when asked (<see cref="MakeInput"/>): a constant that needs no gradient, such as
    /// the C# scalar of <c>x * 2</c>, which then costs no tensor unless someone inspects the node.
    /// </summary>
    internal Node(string opName, CallSite callSite, ReadOnlySpan<Tensor<T>?> inputs, ReadOnlySpan<Tensor<T>?> saved)
        : base(opName, Tape.NextSequence(), callSite.Resolve())
    {
        _tape = Tape.Current;
        foreach (var t in saved)
        {
            if (t is null)
            {
                continue;
            }

            var version = t.Storage.Version;
            switch (_savedCount)
            {
                case 0:
                    _savedVersion0 = version;
                    _savedCount = 1;
                    break;
                case 1:
                    _savedVersion1 = version;
                    _savedCount = 2;
                    break;
                default:
                    Extras.SavedRest = Extras.SavedRest is { } rest ? [.. rest, (t, version)] : [(t, version)];
                    break;
            }
        }

        _inputCount = inputs.Length;
        if (inputs.Length > 2)
        {
            var many = new object?[inputs.Length];
            for (var i = 0; i < inputs.Length; i++)
            {
                many[i] = inputs[i];
            }

            Extras.Edges = many;
        }
        else
        {
            _edge0 = inputs.Length > 0 ? inputs[0] : null;
            _edge1 = inputs.Length > 1 ? inputs[1] : null;
        }

        // The graph's edges are fixed now, as PyTorch's: which inputs get a gradient does not change when
        // a user flips RequiresGrad between the forward and the backward.
        if (inputs.Length <= 64)
        {
            for (var i = 0; i < inputs.Length; i++)
            {
                if (inputs[i]?.RequiresGrad == true)
                {
                    _needs |= 1UL << i;
                }
            }
        }
        else
        {
            var needs = new bool[inputs.Length];
            for (var i = 0; i < inputs.Length; i++)
            {
                needs[i] = inputs[i]?.RequiresGrad == true;
            }

            Extras.NeedsMany = needs;
        }
    }

    /// <summary>
    /// The VJP: given the gradient of the output, writes the gradient of each input into
    /// <paramref name="inputGrads"/> (null where none is wanted). Runs only before release.
    /// </summary>
    internal abstract void Vjp(Tensor<T> gradOutput, Span<Tensor<T>?> inputGrads);

    /// <summary>Drops whatever the VJP holds beyond the inputs (saved tensors, the output): called once, on release.</summary>
    internal abstract void ReleaseVjp();

    /// <summary>
    /// Saved tensor <paramref name="k"/> (0 or 1): the k-th non-null tensor of the <c>saved</c> list the node
    /// was constructed with. Read only before release, to check its version.
    /// </summary>
    private protected abstract Tensor<T> SavedTensor(int k);

    /// <summary>
    /// Whether this kind of node's VJP is the library's own: it keeps none of the tensors it is given or
    /// returns, and returns fresh tensors or views of its incoming gradient, so the engine may own what it
    /// returns and recycle the gradient it was given (<see cref="PendingGradients{T}"/>). Declared by the
    /// node kind. Only the library derives nodes (the constructor is internal), so a kind is built in
    /// unless it says otherwise: <see cref="DelegateNode{T}"/>, which only the library's recording path
    /// (the internal <see cref="Tape"/>.Record) makes, and the ops' own node types are; the node of a
    /// custom op (<see cref="Function{T}"/>, <see cref="Function.Apply{T}"/>), whose VJP is user code, is not.
    /// </summary>
    internal virtual bool IsBuiltIn => true;

    /// <summary>
    /// True for a cast's node: it has no inputs on this typed tape, and its VJP continues the pass in a
    /// graph of the other element type (<see cref="Engine.CrossType{T}"/>), where a Tensor.Grad target may lie.
    /// </summary>
    internal bool _crossesType;

    // Bit i: input i required grad when the op was recorded (beyond 64 inputs, _extras.NeedsMany).
    private readonly ulong _needs;

    /// <summary>Whether input <paramref name="i"/> required grad when this node was recorded: the pass routes a gradient to it only then.</summary>
    internal bool NeedsGrad(int i) => _inputCount <= 64 ? (_needs >> i & 1) != 0 : _extras!.NeedsMany![i];

    /// <summary>The rarely used parts, created on first need (once, even when two threads ask at the same time).</summary>
    private NodeExtras<T> Extras
    {
        get
        {
            if (Volatile.Read(ref _extras) is { } extras)
            {
                return extras;
            }

            Interlocked.CompareExchange(ref _extras, new NodeExtras<T>(), null);
            return _extras;
        }
    }

    /// <summary>Number of inputs (edges), released or not.</summary>
    internal int InputCount => _inputCount;

    /// <summary>Input <paramref name="i"/> as recorded. Only before release (a released non-leaf input is gone).</summary>
    internal Tensor<T> Input(int i) => Edge(i) switch
    {
        Tensor<T> t => t,
        null => MadeInput(i),
        _ => throw new InvalidOperationException($"Backward: the graph through {Describe()} was already freed; its inputs are gone."),
    };

    /// <summary>
    /// Makes input <paramref name="i"/>, recorded as null: a constant that requires no grad, which the node
    /// keeps in its own form (see the constructor). Only node types that record a null input override it.
    /// </summary>
    private protected virtual Tensor<T> MakeInput(int i) => throw new InvalidOperationException($"{OpName}: input {i} was not recorded.");

    /// <summary>Input <paramref name="i"/> made once: later reads (and a concurrent one) see the same tensor.</summary>
    private Tensor<T> MadeInput(int i)
    {
        var made = MakeInput(i);
        ref var slot = ref _inputCount > 2 ? ref _extras!.Edges![i] : ref i == 0 ? ref _edge0 : ref _edge1;
        return Interlocked.CompareExchange(ref slot, made, null) as Tensor<T> ?? made;
    }

    /// <summary>The node that produced input <paramref name="i"/>, before or after release; null for a leaf.</summary>
    internal Node<T>? Producer(int i) => Edge(i) switch
    {
        Tensor<T> t => t._gradFn,
        var e => (Node<T>?)e,
    };

    /// <summary>Input <paramref name="i"/> when it is a leaf (kept through release), else null.</summary>
    internal Tensor<T>? Leaf(int i) => Edge(i) is Tensor<T> { _gradFn: null } t ? t : null;

    private object? Edge(int i) =>
        _inputCount > 2 ? Volatile.Read(ref _extras!.Edges![i]) : i == 0 ? Volatile.Read(ref _edge0) : Volatile.Read(ref _edge1);

    /// <summary>The recorded inputs (a copy; empty after release).</summary>
    public IReadOnlyList<Tensor<T>> Inputs
    {
        get
        {
            if (IsReleased)
            {
                return [];
            }

            var inputs = new Tensor<T>[_inputCount];
            for (var i = 0; i < inputs.Length; i++)
            {
                inputs[i] = Input(i);
            }

            return inputs;
        }
    }

    /// <summary>
    /// Hooks registered on the output tensor (<see cref="Tensor{T}.RegisterHook(Func{Tensor{T}, Tensor{T}?})"/>):
    /// they see, and may replace, the total gradient of the output before the VJP runs (PyTorch's tensor
    /// pre-hooks on grad_fn). Copy-on-write, so a pass reads a consistent array while hooks are added.
    /// </summary>
    internal HookList<T>? Hooks => Volatile.Read(ref _extras)?.Hooks;

    /// <summary>The output's hook list, created on first use (once, even when two threads register at the same time).</summary>
    internal HookList<T> AddHooks()
    {
        var extras = Extras;
        Interlocked.CompareExchange(ref extras.Hooks, new HookList<T>(), null);
        return extras.Hooks;
    }

    /// <summary>The output tensor when <see cref="Tensor{T}.RetainGrad"/> asked Backward to store its gradient in <c>Grad</c>.</summary>
    internal Tensor<T>? RetainGradOf
    {
        get => Volatile.Read(ref _extras)?.RetainGradOf;
        set => Extras.RetainGradOf = value;
    }

    /// <summary>
    /// Throws when a tensor the op saved for its VJP was written in place after the op was recorded:
    /// the VJP would read the new values and return a wrong gradient without a word.
    /// </summary>
    internal void CheckSaved()
    {
        for (var k = 0; k < _savedCount; k++)
        {
            CheckVersion(SavedTensor(k), k == 0 ? _savedVersion0 : _savedVersion1);
        }

        if (Volatile.Read(ref _extras)?.SavedRest is { } rest)
        {
            foreach (var (t, version) in rest)
            {
                CheckVersion(t, version);
            }
        }
    }

    private void CheckVersion(Tensor<T> t, int version)
    {
        if (t.Storage.Version != version)
        {
            throw new SavedTensorModifiedException(OpName, Sequence, CallSite, t.ShapeArray, version, t.Storage.Version);
        }
    }

    /// <summary>Drops the VJP's captures and the non-leaf inputs, and with them every tensor the op saved.</summary>
    internal void Release()
    {
        // Once, even when two passes without retainGraph race through the same node.
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            // Each edge is replaced in one write, so a pass collecting concurrently reads either the
            // input or its producer: the same edge.
            for (var i = 0; i < _inputCount; i++)
            {
                if (Edge(i) is Tensor<T> { _gradFn: { } producer })
                {
                    if (_inputCount > 2)
                    {
                        Volatile.Write(ref _extras!.Edges![i], producer);
                    }
                    else if (i == 0)
                    {
                        Volatile.Write(ref _edge0, producer);
                    }
                    else
                    {
                        Volatile.Write(ref _edge1, producer);
                    }
                }
            }

            ReleaseVjp();
            if (_extras is { } extras)
            {
                extras.SavedRest = null;
            }

            _tape.CountReleased();
        }
    }
}

/// <summary>
/// What few nodes need: the edges of an op with more than two inputs, the record-time grad bits beyond
/// 64 inputs, saved tensors beyond two, the output's hooks and its RetainGrad tensor.
/// </summary>
internal sealed class NodeExtras<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public object?[]? Edges;
    public bool[]? NeedsMany;
    public (Tensor<T> Tensor, int Version)[]? SavedRest;
    public HookList<T>? Hooks;
    public Tensor<T>? RetainGradOf;
}

/// <summary>
/// A node whose VJP is a closure of the library's (<see cref="Tape.Record{T}(string, CallSite, Tensor{T}, ReadOnlySpan{Tensor{T}}, VjpFunc{T}, ReadOnlySpan{Tensor{T}})"/>,
/// internal): built in. A custom op's closure goes into a <see cref="FunctionNode{T}"/> instead.
/// </summary>
internal sealed class DelegateNode<T> : Node<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private VjpFunc<T>? _vjp;

    // The first two saved tensors (the rest sit in the node's extras with their versions).
    private Tensor<T>? _saved0;
    private Tensor<T>? _saved1;

    internal DelegateNode(string opName, CallSite callSite, ReadOnlySpan<Tensor<T>> inputs, VjpFunc<T> vjp, ReadOnlySpan<Tensor<T>?> saved)
        : base(opName, callSite, inputs, saved)
    {
        _vjp = vjp;
        foreach (var t in saved)
        {
            if (t is null)
            {
                continue;
            }

            if (_saved0 is null)
            {
                _saved0 = t;
            }
            else
            {
                _saved1 = t;
                break;
            }
        }
    }

    internal override void Vjp(Tensor<T> gradOutput, Span<Tensor<T>?> inputGrads) => _vjp!(gradOutput, inputGrads);

    internal override void ReleaseVjp() => (_vjp, _saved0, _saved1) = (null, null, null);

    private protected override Tensor<T> SavedTensor(int k) => (k == 0 ? _saved0 : _saved1)!;
}

/// <summary>
/// The node of a custom op (<see cref="Function{T}"/>, <see cref="Function.Apply{T}"/>): its VJP is user
/// code, which may keep or share the tensors it is given or returns, so it is not built in and the engine
/// never owns or recycles a gradient it touches. What it saved its context checks
/// (<see cref="FunctionContext{T}.SaveForBackward"/>), so the node notes no saved tensors itself.
/// </summary>
internal sealed class FunctionNode<T> : Node<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private VjpFunc<T>? _vjp;

    internal FunctionNode(string opName, CallSite callSite, ReadOnlySpan<Tensor<T>> inputs, VjpFunc<T> vjp)
        : base(opName, callSite, inputs, saved: [])
    {
        _vjp = vjp;
    }

    internal override bool IsBuiltIn => false;

    internal override void Vjp(Tensor<T> gradOutput, Span<Tensor<T>?> inputGrads) => _vjp!(gradOutput, inputGrads);

    internal override void ReleaseVjp() => _vjp = null;

    private protected override Tensor<T> SavedTensor(int k) => throw new System.Diagnostics.UnreachableException($"{OpName}: a custom op's node notes no saved tensors.");
}

/// <summary>
/// Thrown by backward when a tensor that an op saved for its gradient was modified in place after the
/// op was recorded (an in-place op, <c>ZeroGrad</c>, an optimiser step): its VJP would silently use the
/// new values. Names the op, the tensor's shape and the storage versions.
/// </summary>
public sealed class SavedTensorModifiedException : InvalidOperationException
{
    internal SavedTensorModifiedException(string opName, long sequence, CallSite callSite, int[] shape, int savedVersion, int currentVersion)
        : base($"Backward: a tensor of shape {ShapeMath.Format(shape)} that {CallSite.Describe(opName, sequence, callSite)} saved for its gradient "
            + $"was modified in place after the op was recorded (storage version {savedVersion}, now {currentVersion}); "
            + "the gradient would be wrong. Modify a copy (Clone()), or modify it after Backward().")
    {
        OpName = opName;
        CallSite = callSite;
        SavedVersion = savedVersion;
        CurrentVersion = currentVersion;
    }

    public string OpName { get; }

    /// <summary>Where the op was recorded (<see cref="CallSite.Unknown"/> when it carried no line).</summary>
    public CallSite CallSite { get; }

    public int SavedVersion { get; }

    public int CurrentVersion { get; }
}

/// <summary>
/// Thrown by backward when an op's VJP returns a gradient whose shape differs from its input's
/// (a bug in that op, typically a custom one). Names the op, the input and both shapes.
/// </summary>
public sealed class GradientShapeException : InvalidOperationException
{
    /// <summary>The error for <paramref name="node"/>, named with its call site.</summary>
    internal GradientShapeException(Node node, int input, int[] gradientShape, int[] inputShape)
        : base($"Backward: the VJP of {CallSite.Describe(node.OpName, node.Sequence, node.CallSite)} returned a gradient of shape "
            + $"{ShapeMath.Format(gradientShape)} for input {input} of shape {ShapeMath.Format(inputShape)}.")
    {
        OpName = node.OpName;
        CallSite = node.CallSite;
        Input = input;
        GradientShape = gradientShape;
        InputShape = inputShape;
    }

    public string OpName { get; }

    /// <summary>Where the op was recorded (<see cref="CallSite.Unknown"/> when it carried no line).</summary>
    public CallSite CallSite { get; }

    public int Input { get; }

    public int[] GradientShape { get; }

    public int[] InputShape { get; }
}
