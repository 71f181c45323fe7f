using System.Numerics;

namespace Autograd;

/// <summary>How a loss reduces its per-element values (PyTorch's <c>reduction</c> argument).</summary>
public enum Reduction
{
    /// <summary>No reduction: one loss per element (per target for the classification losses).</summary>
    None,

    /// <summary>The mean (for NllLoss/CrossEntropy with class weights: Σ loss / Σ weights of the counted targets).</summary>
    Mean,

    /// <summary>The sum.</summary>
    Sum,
}

/// <summary>Applies a <see cref="Reduction"/> to elementwise losses and spreads a gradient back over them.</summary>
internal static class LossReduction
{
    /// <summary>Throws unless <paramref name="reduction"/> is one of the three defined values.</summary>
    public static void Check(Reduction reduction, string op)
    {
        if (reduction is not (Reduction.None or Reduction.Mean or Reduction.Sum))
        {
            throw new ArgumentException($"{op}: reduction must be None, Mean or Sum, got {(int)reduction}.", nameof(reduction));
        }
    }

    /// <summary>Throws unless input and target have the same shape (PyTorch only warns and broadcasts, which is almost always a bug).</summary>
    public static void CheckSameShape<T>(Tensor<T> input, Tensor<T> target, string op)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!ShapeMath.SameShape(input.ShapeArray, target.ShapeArray))
        {
            throw new ArgumentException(
                $"{op}: target shape {ShapeMath.Format(target.ShapeArray)} must equal input shape {ShapeMath.Format(input.ShapeArray)}.", nameof(target));
        }
    }

    /// <summary>The reduced loss: <paramref name="losses"/> itself, its sum, or its mean (NaN when empty, as PyTorch).</summary>
    public static Tensor<T> Apply<T>(Tensor<T> losses, Reduction reduction)
        where T : unmanaged, IFloatingPointIeee754<T>
        => reduction switch
        {
            Reduction.None => losses,
            Reduction.Sum => losses.Sum(),
            _ => losses.Mean(),
        };

    /// <summary>
    /// The gradient of the reduced loss with respect to each element of <paramref name="shape"/>:
    /// g itself (None), g expanded (Sum) or g / n expanded (Mean). Built from recorded ops, so it is
    /// differentiable in g when a backward pass records.
    /// </summary>
    public static Tensor<T> Spread<T>(Tensor<T> g, int[] shape, Reduction reduction)
        where T : unmanaged, IFloatingPointIeee754<T>
        => reduction switch
        {
            Reduction.None => g,
            Reduction.Sum => g.Expand(shape),
            _ => g.Mul(Tensor.Scalar(T.One / T.CreateChecked(ShapeMath.Numel(shape)))).Expand(shape),
        };
}

/// <summary>
/// The losses of the difference d = input − target (MseLoss, L1Loss): checks, the reduced forward value,
/// and one recorded node whose VJP is dinput = ĝ·ℓ′(d), dtarget = −dinput. <c>loss</c> gives ℓ(d)
/// elementwise and is evaluated without recording; <c>derivative</c> gives ℓ′(d) and runs in the backward
/// pass's grad mode, so it is built from recorded ops where ℓ′ is not constant.
/// </summary>
internal static class DifferenceLoss
{
    public static Tensor<T> Apply<T>(
        string op, CallSite site, Tensor<T> input, Tensor<T> target, Reduction reduction, Func<Tensor<T>, Tensor<T>> loss, Func<Tensor<T>, Tensor<T>> derivative)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(target);
        LossReduction.Check(reduction, op);
        LossReduction.CheckSameShape(input, target, op);
        Tensor<T> result;
        using (Tensor.NoGrad())
        {
            result = LossReduction.Apply(loss(input.Sub(target)), reduction);
        }

        if (Tape.ShouldRecord(input, target))
        {
            var shape = input.ShapeArray;
            var (needInput, needTarget) = (input.RequiresGrad, target.RequiresGrad);
            Tape.Record(op, site, result, [input, target], (g, grads) =>
            {
                var dInput = LossReduction.Spread(g, shape, reduction).Mul(derivative(input.Sub(target)));
                grads[0] = needInput ? dInput : null;
                grads[1] = needTarget ? dInput.Neg() : null;
            },
            input,
            target);
        }

        return result;
    }
}
