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
    private protected Node(string opName, long sequence)
    {
        OpName = opName;
        Sequence = sequence;
    }

    /// <summary>The op that recorded this node ("MatMul", "Conv2d", ...).</summary>
    public string OpName { get; }

    /// <summary>Position on the tape: later ops have larger numbers, so reverse order is a valid backward order.</summary>
    public long Sequence { get; }

    /// <summary>True once a backward pass without retainGraph has used and freed this node.</summary>
    public bool IsReleased { get; private protected set; }

    public override string ToString() => IsReleased ? $"{OpName}#{Sequence} (released)" : $"{OpName}#{Sequence}";
}

/// <summary>A tape node for tensors of element type <typeparamref name="T"/>.</summary>
public sealed class Node<T> : Node
    where T : unmanaged, IFloatingPointIeee754<T>
{
    internal Tensor<T>[] _inputs;
    internal VjpFunc<T>? _vjp;
    private readonly Tape _tape;
    private int _released;

    /// <summary>
    /// True when the VJP is the library's own (Autograd.Core or Autograd.Ops): it keeps none of the
    /// tensors it is given or returns, and returns either fresh tensors or views of its incoming
    /// gradient. The engine may then recycle gradient buffers as soon as it is done with them.
    /// </summary>
    internal bool _builtIn;

    internal Node(string opName, long sequence, Tensor<T>[] inputs, VjpFunc<T> vjp, Tape tape)
        : base(opName, sequence)
    {
        _inputs = inputs;
        _vjp = vjp;
        _tape = tape;
    }

    /// <summary>The recorded inputs (empty after release).</summary>
    public IReadOnlyList<Tensor<T>> Inputs => _inputs;

    /// <summary>Drops the VJP closure and the inputs, and with them every tensor the op saved.</summary>
    internal void Release()
    {
        // Once, even when two passes without retainGraph race through the same node.
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            _vjp = null;
            _inputs = [];
            IsReleased = true;
            _tape.CountReleased();
        }
    }
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

    public string OpName { get; }

    public int Input { get; }

    public int[] GradientShape { get; }

    public int[] InputShape { get; }
}
