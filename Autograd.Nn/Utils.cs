using System.Globalization;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Autograd.Nn;

/// <summary>
/// Gradient clipping, PyTorch's <c>torch.nn.utils.clip_grad_norm_</c> and <c>clip_grad_value_</c>: call between
/// <c>loss.Backward()</c> and <c>optimizer.Step()</c>. Both change the gradients in place, skip parameters
/// without a gradient, and take each tensor once however often it is listed.
/// </summary>
public static class Utils
{
    /// <summary>
    /// Scales every gradient by min(1, maxNorm / (total + 1e-6)), where total is the norm of all the gradients
    /// together, as if concatenated into one vector: (Σ |g|ᵖ)^(1/p), or max |g| for p = ∞. Returns that total
    /// norm, measured before clipping (PyTorch returns it as a tensor, TorchSharp as a double).
    /// </summary>
    /// <param name="parameters">The tensors whose <c>Grad</c> to clip, usually <c>model.Parameters()</c>.</param>
    /// <param name="maxNorm">The largest total norm let through.</param>
    /// <param name="normType">p: 2 by default, <c>double.PositiveInfinity</c> for the largest magnitude.</param>
    /// <param name="errorIfNonfinite">Throw when the total norm is NaN or infinite instead of scaling by it.</param>
    /// <remarks>
    /// The norm is accumulated in double whatever T is. A NaN or infinite total scales the gradients by NaN or
    /// 0, as in PyTorch, unless <paramref name="errorIfNonfinite"/>.
    /// </remarks>
    public static double ClipGradNorm<T>(IEnumerable<Tensor<T>> parameters, double maxNorm, double normType = 2, bool errorIfNonfinite = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(maxNorm >= 0) || !double.IsFinite(maxNorm))
        {
            throw new ArgumentException($"ClipGradNorm: maxNorm must be finite and >= 0, got {maxNorm}.", nameof(maxNorm));
        }

        if (!(normType > 0))
        {
            throw new ArgumentException($"ClipGradNorm: normType must be positive (or double.PositiveInfinity), got {normType}.", nameof(normType));
        }

        var grads = Gradients(parameters, "ClipGradNorm");
        var total = TotalNorm(grads, normType);
        if (errorIfNonfinite && !double.IsFinite(total))
        {
            throw new InvalidOperationException(string.Create(
                CultureInfo.InvariantCulture,
                $"ClipGradNorm: the total norm of order {normType} of the gradients of {grads.Count} parameters is {total}, so they cannot be clipped; pass errorIfNonfinite: false to scale them anyway."));
        }

        var coefficient = maxNorm / (total + 1e-6);
        if (!(coefficient >= 1))
        {
            // PyTorch multiplies by clamp(coefficient, max=1) every time; a factor of 1 changes nothing, so it is skipped.
            var factor = T.CreateChecked(coefficient);
            using (Tensor.NoGrad())
            {
                foreach (var grad in grads)
                {
                    grad.MulInPlace(factor);
                }
            }
        }

        return total;
    }

    /// <summary>Clamps every gradient element to [−clipValue, clipValue] in place (PyTorch's <c>clip_grad_value_</c>).</summary>
    public static void ClipGradValue<T>(IEnumerable<Tensor<T>> parameters, double clipValue)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(clipValue >= 0) || !double.IsFinite(clipValue))
        {
            throw new ArgumentException($"ClipGradValue: clipValue must be finite and >= 0, got {clipValue}.", nameof(clipValue));
        }

        var grads = Gradients(parameters, "ClipGradValue");
        using (Tensor.NoGrad())
        {
            foreach (var grad in grads)
            {
                grad.CopyFrom(grad.Clamp(-clipValue, clipValue));
            }
        }
    }

    /// <summary>The gradients of the distinct parameters that have one.</summary>
    private static List<Tensor<T>> Gradients<T>(IEnumerable<Tensor<T>> parameters, string op)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var seen = new HashSet<Tensor<T>>(ReferenceEqualityComparer.Instance);
        var grads = new List<Tensor<T>>();
        var i = 0;
        foreach (var p in parameters)
        {
            if (p is null)
            {
                throw new ArgumentException($"{op}: parameter {i} is null.", nameof(parameters));
            }

            if (seen.Add(p) && p.Grad is { } grad)
            {
                grads.Add(grad);
            }

            i++;
        }

        return grads;
    }

    /// <summary>(Σ |g|ᵖ)^(1/p) over every element of every gradient, or max |g| for p = ∞ (NaN if any is); 0 when there are none.</summary>
    private static double TotalNorm<T>(List<Tensor<T>> grads, double p)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var acc = 0.0;
        foreach (var grad in grads)
        {
            using var access = grad.Read();
            var values = access.ContiguousElements;
            if (double.IsPositiveInfinity(p))
            {
                foreach (var x in values)
                {
                    acc = Math.Max(acc, Math.Abs(double.CreateTruncating(x)));   // Math.Max propagates NaN
                }
            }
            else if (p == 2)
            {
                acc += SumOfSquaresInDouble(values);
            }
            else
            {
                foreach (var x in values)
                {
                    acc += Math.Pow(Math.Abs(double.CreateTruncating(x)), p);
                }
            }
        }

        return double.IsPositiveInfinity(p) ? acc : p == 2 ? Math.Sqrt(acc) : Math.Pow(acc, 1 / p);
    }

    /// <summary>
    /// Σ x² accumulated in double: float widened eight lanes at a time into two 4-lane double accumulators (the
    /// GPT step's clip reads 0.8 M gradient elements; the scalar loop took ~2 % of the step), double in a
    /// vectorised sum of squares; the tail element by element.
    /// </summary>
    private static double SumOfSquaresInDouble<T>(ReadOnlySpan<T> values)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(double))
        {
            return TensorPrimitives.SumOfSquares(MemoryMarshal.Cast<T, double>(values));
        }

        var acc = 0.0;
        var i = 0;
        if (typeof(T) == typeof(float) && Vector256.IsHardwareAccelerated)
        {
            var floats = MemoryMarshal.Cast<T, float>(values);
            var (lo, hi) = (Vector256<double>.Zero, Vector256<double>.Zero);
            for (; i + 8 <= floats.Length; i += 8)
            {
                var (a, b) = Vector256.Widen(Vector256.Create(floats.Slice(i, 8)));
                lo += a * a;
                hi += b * b;
            }

            acc = Vector256.Sum(lo + hi);
        }

        for (; i < values.Length; i++)
        {
            var v = double.CreateTruncating(values[i]);
            acc += v * v;
        }

        return acc;
    }
}
