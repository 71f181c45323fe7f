using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class LayerNormExtensions
{
    extension<T>(Tensor<T> input)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Layer normalisation (PyTorch's layer_norm): over the last dims given by
        /// <paramref name="normalizedShape"/>, y = (x − μ)/√(var + eps)·weight + bias with the biased
        /// variance; <paramref name="weight"/> and <paramref name="bias"/> (optional) have shape normalizedShape.
        /// </summary>
        /// <remarks>
        /// VJP, with x̂ = (x − μ)·σ⁻¹ and gx̂ = g·weight: dx = σ⁻¹·(gx̂ − mean(gx̂) − x̂·mean(gx̂·x̂)) (means over
        /// the normalised dims), dweight = Σ_leading g·x̂, dbias = Σ_leading g.
        /// </remarks>
        public Tensor<T> LayerNorm(int[] normalizedShape, Tensor<T>? weight = null, Tensor<T>? bias = null, double eps = 1e-5, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(input);
            ArgumentNullException.ThrowIfNull(normalizedShape);
            var shapes = $"(input {ShapeMath.Format(input.ShapeArray)}, normalizedShape {ShapeMath.Format(normalizedShape)})";
            var k = normalizedShape.Length;
            if (k == 0 || normalizedShape.Any(d => d < 1))
            {
                throw new ArgumentException($"LayerNorm: normalizedShape must be non-empty with positive sizes {shapes}.", nameof(normalizedShape));
            }

            if (input.Rank < k || !input.ShapeArray.AsSpan(input.Rank - k).SequenceEqual(normalizedShape))
            {
                throw new ArgumentException($"LayerNorm: the input's last {k} dimensions must equal normalizedShape {shapes}.", nameof(normalizedShape));
            }

            var normalized = (int[])normalizedShape.Clone();
            Normalization.CheckShape(weight, normalized, "LayerNorm", nameof(weight), shapes);
            Normalization.CheckShape(bias, normalized, "LayerNorm", nameof(bias), shapes);
            var epsT = Normalization.CheckEps<T>(eps, "LayerNorm", shapes);
            var dims = Enumerable.Range(input.Rank - k, k).ToArray();

            (Tensor<T> Mean, Tensor<T> InvStd) Stats()
            {
                var s = Normalization.Standardize(input, dims, epsT);
                return (s.Mean, s.InvStd);
            }

            Tensor<T> result;
            (Tensor<T> Mean, Tensor<T> InvStd) saved;
            using (Tensor.NoGrad())
            {
                var s = Normalization.Standardize(input, dims, epsT);
                saved = (s.Mean, s.InvStd);
                result = s.XHat;
                result = weight is null ? result : result.Mul(weight);
                result = bias is null ? result : result.Add(bias);
            }

            if (OpTrace.IsActive)
            {
                OpTrace.Add("LayerNorm", result, [input, weight, bias], ("axes", k), ("eps", eps));
            }

            if (Tape.ShouldRecord(input, weight, bias))
            {
                var (inputs, wAt, bAt) = OptionalInputs.Of([input], weight, bias);
                var (needX, needW, needB) = (input.RequiresGrad, weight?.RequiresGrad == true, bias?.RequiresGrad == true);
                Tape.Record("LayerNorm", new CallSite(callerFile, callerLine), result, inputs, (g, grads) =>
                {
                    var (xHat, invStd) = Normalization.ForBackward(input, saved, Stats);
                    if (needX)
                    {
                        grads[0] = Normalization.InputGradient(weight is null ? g : g.Mul(weight), xHat, invStd, dims);
                    }

                    if (needW)
                    {
                        grads[wAt] = g.Mul(xHat).SumToSize(normalized);
                    }

                    if (needB)
                    {
                        grads[bAt] = g.SumToSize(normalized);
                    }
                },
                input,
                weight);
            }

            return result;
        }
    }
}
