namespace Autograd;

public sealed partial class Tensor<T>
{
    internal bool RequiresGradInternal
    {
        set => _requiresGrad = value;
    }

    /// <summary>
    /// Walks the tape in reverse from this tensor and accumulates d(this)/d(leaf) · gradOutput into the
    /// <c>Grad</c> of every leaf that requires grad. Without <paramref name="gradOutput"/> the tensor must
    /// have one element (a loss) and the seed is 1. The nodes used are released unless
    /// <paramref name="retainGraph"/> is true; a second pass through a released node throws.
    /// </summary>
    public void Backward(Tensor<T>? gradOutput = null, bool retainGraph = false)
    {
        if (gradOutput is null)
        {
            if (Numel != 1)
            {
                throw new InvalidOperationException(
                    $"Backward: an implicit gradient needs a one-element tensor, this one has shape {ShapeMath.Format(_shape)}; pass gradOutput of that shape.");
            }

            gradOutput = new Tensor<T>([T.One], (int[])_shape.Clone());
        }
        else if (!ShapeMath.SameShape(gradOutput._shape, _shape))
        {
            throw new ArgumentException(
                $"Backward: gradOutput has shape {ShapeMath.Format(gradOutput._shape)} but the tensor has shape {ShapeMath.Format(_shape)}.",
                nameof(gradOutput));
        }

        Engine.Run(this, gradOutput, retainGraph);
    }

    /// <summary>A tensor over the same storage that is not recorded and does not require grad.</summary>
    public Tensor<T> Detach() => new(_storage, _shape, _strides, _offset);
}
