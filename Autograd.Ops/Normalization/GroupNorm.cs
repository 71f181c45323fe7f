using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class GroupNormExtensions
{
    extension<T>(Tensor<T> input)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Group normalisation (PyTorch's group_norm, Wu and He 2018) of input [N, C, *]: the C channels are split
        /// into <paramref name="numGroups"/> consecutive groups, and each (sample, group) is standardised over its
        /// channels and positions, y = (x − μ)/√(var + eps) with the biased variance, then scaled and shifted per
        /// channel by <paramref name="weight"/> and <paramref name="bias"/> ([C], optional). The same in training
        /// and evaluation: no running statistics.
        /// </summary>
        /// <remarks>
        /// VJP, with x̂ = (x − μ)·σ⁻¹ per (n, group) and gx̂ = g·weight: dx = σ⁻¹·(gx̂ − mean(gx̂) − x̂·mean(gx̂·x̂))
        /// (means over the group's C/G·∏* elements, as LayerNorm's over [N, G, C/G·∏*]); dweight = Σ_{N,*} g·x̂,
        /// dbias = Σ_{N,*} g. Saves μ and σ⁻¹ and rebuilds x̂ from x, so it is differentiable again.
        /// </remarks>
        public Tensor<T> GroupNorm(int numGroups, Tensor<T>? weight = null, Tensor<T>? bias = null, double eps = 1e-5, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(input);
            var shapes = $"(input {ShapeMath.Format(input.ShapeArray)}, numGroups {numGroups})";
            if (input.Rank < 2)
            {
                throw new ArgumentException($"GroupNorm: input must be [N, C, *] with at least 2 dimensions, got rank {input.Rank} {shapes}.", nameof(input));
            }

            var (n, c) = (input.ShapeArray[0], input.ShapeArray[1]);
            if (numGroups < 1 || c % numGroups != 0)
            {
                throw new ArgumentException($"GroupNorm: numGroups must be positive and divide the {c} channels, got {numGroups} {shapes}.", nameof(numGroups));
            }

            int[] channels = [c];
            Normalization.CheckShape(weight, channels, "GroupNorm", nameof(weight), shapes);
            Normalization.CheckShape(bias, channels, "GroupNorm", nameof(bias), shapes);
            var epsT = Normalization.CheckEps<T>(eps, "GroupNorm", shapes);
            // An empty batch or an empty spatial size gives an empty result and zero weight and bias gradients, as
            // PyTorch's group_norm does; the group size is computed from the shape, not from Numel / n.
            var inputShape = input.ShapeArray;
            var perGroup = (c / numGroups) * ShapeMath.Numel(inputShape[2..]);
            int[] grouped = [n, numGroups, perGroup];
            int[] groupDims = [2];
            var channelShape = Enumerable.Range(0, input.Rank).Select(d => d == 1 ? c : 1).ToArray();
            var sumDims = Enumerable.Range(0, input.Rank).Where(d => d != 1).ToArray();

            (Tensor<T> Mean, Tensor<T> InvStd) Stats()
            {
                var s = Normalization.Standardize(input.Reshape(grouped), groupDims, epsT);
                return (s.Mean, s.InvStd);
            }

            Tensor<T> result;
            (Tensor<T> Mean, Tensor<T> InvStd) saved;
            using (Tensor.NoGrad())
            {
                var s = Normalization.Standardize(input.Reshape(grouped), groupDims, epsT);
                saved = (s.Mean, s.InvStd);
                result = s.XHat.Reshape(inputShape);
                result = weight is null ? result : result.Mul(weight.Reshape(channelShape));
                result = bias is null ? result : result.Add(bias.Reshape(channelShape));
            }

            if (Tape.ShouldRecord(input, weight, bias))
            {
                var (inputs, wAt, bAt) = OptionalInputs.Of([input], weight, bias);
                var (needX, needW, needB) = (input.RequiresGrad, weight?.RequiresGrad == true, bias?.RequiresGrad == true);
                Tape.Record("GroupNorm", new CallSite(callerFile, callerLine), result, inputs, (g, grads) =>
                {
                    var (xHat, invStd) = Normalization.ForBackward(input.Reshape(grouped), saved, Stats);
                    if (needX)
                    {
                        var gXHat = (weight is null ? g : g.Mul(weight.Reshape(channelShape))).Reshape(grouped);
                        grads[0] = Normalization.InputGradient(gXHat, xHat, invStd, groupDims).Reshape(inputShape);
                    }

                    if (needW)
                    {
                        grads[wAt] = g.Mul(xHat.Reshape(inputShape)).Sum(sumDims);
                    }

                    if (needB)
                    {
                        grads[bAt] = g.Sum(sumDims);
                    }
                },
                input,
                weight);
            }

            return result;
        }
    }
}
