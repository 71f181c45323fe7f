using System.Numerics;

namespace Autograd.Nn;

/// <summary>Functional forms of layers that have no op of their own (PyTorch's <c>torch.nn.functional</c>).</summary>
public static class Functional
{
    /// <summary>
    /// Inverted dropout: with <paramref name="training"/>, each element is zeroed with probability
    /// <paramref name="p"/> and the others scaled by 1/(1 − p); otherwise <paramref name="input"/> itself.
    /// y = x ⊙ m with a constant mask m, so the VJP is Mul's: dx = g ⊙ m.
    /// </summary>
    public static Tensor<T> Dropout<T>(Tensor<T> input, double p = 0.5, bool training = true, Generator? generator = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!(p >= 0 && p <= 1))
        {
            throw new ArgumentException($"Dropout: probability must be in [0, 1], got {p} (input {ShapeMath.Format(input.Shape)}).", nameof(p));
        }

        if (!training || p == 0)
        {
            return input;
        }

        var mask = new T[input.Numel];
        // p = 1 drops everything (PyTorch returns zeros); the mask is all zeros and 1/(1 − p) is never used.
        var keep = p == 1 ? T.Zero : T.CreateChecked(1.0 / (1.0 - p));
        var g = generator ?? Tensor.DefaultGenerator;
        lock (g)
        {
            for (var i = 0; i < mask.Length; i++)
            {
                mask[i] = g.NextDouble() < p ? T.Zero : keep;
            }
        }

        return input * Tensor.FromArray(mask, input.Shape);
    }
}
