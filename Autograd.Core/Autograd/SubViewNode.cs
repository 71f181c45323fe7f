using System.Numerics;

namespace Autograd;

/// <summary>
/// The node of a sub-view (Slice, Narrow, Select, and so Split and Chunk): its VJP is zeros of the input's shape
/// with the gradient added into the same view of them. When several sub-views of one tensor are used (the q, k, v
/// of an attention's packed projection), the engine adds each later gradient straight into the input's pending
/// total through <see cref="AccumulateInto"/> instead of building another input-sized zero tensor and summing it.
/// </summary>
internal sealed class SubViewNode<T> : Node<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int[] _inputShape;
    private Func<Tensor<T>, Tensor<T>>? _sameView;

    internal SubViewNode(string opName, CallSite callSite, Tensor<T> input, Func<Tensor<T>, Tensor<T>> sameView)
        : base(opName, callSite, [input], [])
    {
        _inputShape = input.ShapeArray;
        _sameView = sameView;
    }

    internal override void Vjp(Tensor<T> gradOutput, Span<Tensor<T>?> inputGrads) =>
        inputGrads[0] = Tensor<T>.SubViewBackward(gradOutput, _inputShape, _sameView!, OpName);

    /// <summary>
    /// Adds <paramref name="g"/> into this node's view of <paramref name="total"/> (the input's pending gradient,
    /// owned by the pass), in place: the VJP's result summed into it, without the zero tensor. Not recorded
    /// (only for a pass that builds no graph).
    /// </summary>
    internal void AccumulateInto(Tensor<T> total, Tensor<T> g) => Tensor<T>.AccumulateIntoView(total, g, _sameView!);

    internal override void ReleaseVjp() => _sameView = null;

    private protected override Tensor<T> SavedTensor(int k) => throw new InvalidOperationException($"{OpName}: a sub-view saves no tensor.");
}
