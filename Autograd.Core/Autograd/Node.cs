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
    public bool IsReleased { get; private protected set; }

    public override string ToString() =>
        (IsReleased ? $"{OpName}#{Sequence} (released)" : $"{OpName}#{Sequence}") + (CallSite.IsKnown ? $" at {CallSite}" : "");

    /// <summary>How errors name this node: <c>'Mul' (node #12) at Train.cs:42</c> (<see cref="CallSite.Describe"/>).</summary>
    internal string Describe() => CallSite.Describe(OpName, Sequence, CallSite);
}

/// <summary>A tape node for tensors of element type <typeparamref name="T"/>.</summary>
public sealed class Node<T> : Node
    where T : unmanaged, IFloatingPointIeee754<T>
{
    internal Tensor<T>[] _inputs;
    internal VjpFunc<T>? _vjp;
    private readonly Tape _tape;
    private SavedTensors<T> _saved;
    private int _released;

    /// <summary>
    /// True when the VJP is the library's own (Autograd.Core or Autograd.Ops): it keeps none of the
    /// tensors it is given or returns, and returns either fresh tensors or views of its incoming
    /// gradient. The engine may then recycle gradient buffers as soon as it is done with them.
    /// Decided from the VJP's assembly on first read, not at record time: the recording path stays free
    /// of reflection, and a released node (no VJP) counts as not built in.
    /// </summary>
    internal bool _builtIn
    {
        get
        {
            if (_builtInState == 0)
            {
                _builtInState = _vjp is { } vjp && Tape.IsBuiltIn(vjp) ? 1 : 2;
            }

            return _builtInState == 1;
        }

        set => _builtInState = value ? 1 : 2;
    }

    /// <summary>0 until <see cref="_builtIn"/> is decided, then 1 (built in) or 2 (user code).</summary>
    private int _builtInState;

    /// <summary>
    /// True for a cast's node: it has no inputs on this typed tape, and its VJP continues the pass in a
    /// graph of the other element type (<see cref="Engine.CrossType{T}"/>), where a Tensor.Grad target may lie.
    /// </summary>
    internal bool _crossesType;

    internal Node(string opName, long sequence, Tensor<T>[] inputs, VjpFunc<T> vjp, Tape tape, CallSite callSite, ReadOnlySpan<Tensor<T>?> saved)
        : base(opName, sequence, callSite)
    {
        _inputs = inputs;
        _vjp = vjp;
        _tape = tape;
        _saved = new SavedTensors<T>(saved);

        // The graph's edges are fixed now, as PyTorch's: which inputs get a gradient does not change when
        // a user flips RequiresGrad between the forward and the backward.
        if (inputs.Length <= 64)
        {
            for (var i = 0; i < inputs.Length; i++)
            {
                if (inputs[i].RequiresGrad)
                {
                    _needs |= 1UL << i;
                }
            }
        }
        else
        {
            _needsMany = Array.ConvertAll(inputs, static t => t.RequiresGrad);
        }
    }

    // Bit i: input i required grad when the op was recorded (a bool per input beyond 64 inputs).
    private readonly ulong _needs;
    private readonly bool[]? _needsMany;

    /// <summary>Whether input <paramref name="i"/> required grad when this node was recorded: the pass routes a gradient to it only then.</summary>
    internal bool NeedsGrad(int i) => _needsMany is null ? (_needs >> i & 1) != 0 : _needsMany[i];

    /// <summary>The recorded inputs (empty after release).</summary>
    public IReadOnlyList<Tensor<T>> Inputs => _inputs;

    /// <summary>
    /// Hooks registered on the output tensor (<see cref="Tensor{T}.RegisterHook(Func{Tensor{T}, Tensor{T}?})"/>):
    /// they see, and may replace, the total gradient of the output before the VJP runs (PyTorch's tensor
    /// pre-hooks on grad_fn). Copy-on-write, so a pass reads a consistent array while hooks are added.
    /// </summary>
    internal HookList<T>? _hooks;

    /// <summary>The output tensor when <see cref="Tensor{T}.RetainGrad"/> asked Backward to store its gradient in <c>Grad</c>.</summary>
    internal Tensor<T>? _retainGradOf;

    /// <summary>
    /// The graph's edges from this node: its inputs, or after release placeholders that keep only what a
    /// pass needs to find its way (the producing node, the leaf itself), as PyTorch keeps a released
    /// node's edges. A pass can then tell whether a released node lies on its path, and throw only then.
    /// </summary>
    internal Tensor<T>[] Edges => Volatile.Read(ref _edges) ?? _inputs;

    private Tensor<T>[]? _edges;

    /// <summary>
    /// Throws when a tensor the op saved for its VJP was written in place after the op was recorded:
    /// the VJP would read the new values and return a wrong gradient without a word.
    /// </summary>
    internal void CheckSaved() => _saved.Check(this);

    /// <summary>Drops the VJP closure and the inputs, and with them every tensor the op saved.</summary>
    internal void Release()
    {
        // Once, even when two passes without retainGraph race through the same node.
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            var edges = new Tensor<T>[_inputs.Length];
            for (var i = 0; i < edges.Length; i++)
            {
                edges[i] = Tensor<T>.EdgeOf(_inputs[i]);
            }

            Volatile.Write(ref _edges, edges);
            _vjp = null;
            _inputs = [];
            _saved = default;
            IsReleased = true;
            _tape.CountReleased();
        }
    }
}

/// <summary>
/// The tensors an op's VJP reads, each with the storage version it had when the op was recorded
/// (PyTorch's saved-variable version check). Two are kept inline, so the common binary op allocates
/// nothing for them.
/// </summary>
internal readonly struct SavedTensors<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Tensor<T>? _t0;
    private readonly Tensor<T>? _t1;
    private readonly int _v0;
    private readonly int _v1;
    private readonly (Tensor<T> Tensor, int Version)[]? _rest;

    public SavedTensors(ReadOnlySpan<Tensor<T>?> saved)
    {
        foreach (var t in saved)
        {
            if (t is null)
            {
                continue;
            }

            if (_t0 is null)
            {
                (_t0, _v0) = (t, t._storage._version);
            }
            else if (_t1 is null)
            {
                (_t1, _v1) = (t, t._storage._version);
            }
            else
            {
                _rest = _rest is null ? [(t, t._storage._version)] : [.. _rest, (t, t._storage._version)];
            }
        }
    }

    public void Check(Node node)
    {
        Check(node, _t0, _v0);
        Check(node, _t1, _v1);
        if (_rest is not null)
        {
            foreach (var (t, v) in _rest)
            {
                Check(node, t, v);
            }
        }
    }

    private static void Check(Node node, Tensor<T>? t, int version)
    {
        if (t is not null && t._storage._version != version)
        {
            throw new SavedTensorModifiedException(node.OpName, node.Sequence, node.CallSite, t._shape, version, t._storage._version);
        }
    }
}

/// <summary>
/// Thrown by backward when a tensor that an op saved for its gradient was modified in place after the
/// op was recorded (an in-place op, <c>ZeroGrad</c>, an optimiser step): its VJP would silently use the
/// new values. Names the op, the tensor's shape and the storage versions.
/// </summary>
public sealed class SavedTensorModifiedException : InvalidOperationException
{
    public SavedTensorModifiedException(string opName, long sequence, int[] shape, int savedVersion, int currentVersion)
        : this(opName, sequence, CallSite.Unknown, shape, savedVersion, currentVersion)
    {
    }

    public SavedTensorModifiedException(string opName, long sequence, CallSite callSite, int[] shape, int savedVersion, int currentVersion)
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
    public GradientShapeException(string opName, int input, int[] gradientShape, int[] inputShape)
        : base($"Backward: the VJP of '{opName}' returned a gradient of shape {ShapeMath.Format(gradientShape)} "
            + $"for input {input} of shape {ShapeMath.Format(inputShape)}.")
    {
        OpName = opName;
        Input = input;
        GradientShape = gradientShape;
        InputShape = inputShape;
    }

    /// <summary>The error for <paramref name="node"/>, named with its call site.</summary>
    public GradientShapeException(Node node, int input, int[] gradientShape, int[] inputShape)
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
