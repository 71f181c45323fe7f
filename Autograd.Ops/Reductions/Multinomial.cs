using System.Numerics;

namespace Autograd;

/// <summary>Sampling category indices from rows of probabilities (PyTorch's multinomial): not differentiable.</summary>
public static class MultinomialExtensions
{
    extension<T>(Tensor<T> probabilities)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// <paramref name="numSamples"/> category indices drawn from each row of this 1-D [n] or 2-D [rows, n]
        /// tensor of non-negative weights (they need not sum to 1): an <see cref="IndexTensor"/> of shape
        /// [numSamples] or [rows, numSamples]. With <paramref name="replacement"/> the draws are independent;
        /// without, a category is drawn at most once (each draw from the weights not yet drawn), so a row needs
        /// at least numSamples categories of non-zero weight. A category of weight 0 is never drawn. Uniforms
        /// come from <paramref name="generator"/> (default <see cref="Tensor.DefaultGenerator"/>), one per draw,
        /// row by row: a seed reproduces the result (the engine's generator, not PyTorch's stream).
        /// </summary>
        public IndexTensor Multinomial(int numSamples, bool replacement = false, Generator? generator = null)
        {
            ArgumentNullException.ThrowIfNull(probabilities);
            var shape = ShapeMath.Format(probabilities.ShapeArray);
            if (probabilities.Rank is not (1 or 2))
            {
                throw new ArgumentException($"Multinomial: probabilities must be 1-D [n] or 2-D [rows, n] (probabilities {shape}).", nameof(probabilities));
            }

            var n = probabilities.ShapeArray[^1];
            var rows = probabilities.Rank == 1 ? 1 : probabilities.ShapeArray[0];
            if (numSamples <= 0)
            {
                throw new ArgumentException($"Multinomial: numSamples must be positive, got {numSamples} (probabilities {shape}).", nameof(numSamples));
            }

            if (!replacement && numSamples > n)
            {
                throw new ArgumentException($"Multinomial: cannot draw {numSamples} samples from {n} categories without replacement (probabilities {shape}).", nameof(numSamples));
            }

            var weights = new double[rows * n];
            using (var pr = probabilities.Read())
            {
                var values = pr.ContiguousElements;
                for (var r = 0; r < rows; r++)
                {
                    var nonZero = 0;
                    var total = 0.0;
                    for (var j = 0; j < n; j++)
                    {
                        var w = double.CreateChecked(values[r * n + j]);
                        if (!(w >= 0 && double.IsFinite(w)))
                        {
                            throw new ArgumentException(
                                $"Multinomial: row {r} holds {w} at category {j}; weights must be finite and non-negative (probabilities {shape}).", nameof(probabilities));
                        }

                        weights[r * n + j] = w;
                        total += w;
                        nonZero += w > 0 ? 1 : 0;
                    }

                    if (total == 0)
                    {
                        throw new ArgumentException($"Multinomial: row {r} sums to 0; it needs a category of positive weight (probabilities {shape}).", nameof(probabilities));
                    }

                    if (!replacement && nonZero < numSamples)
                    {
                        throw new ArgumentException(
                            $"Multinomial: row {r} has {nonZero} categories of non-zero weight, too few for {numSamples} samples without replacement (probabilities {shape}).",
                            nameof(probabilities));
                    }
                }
            }

            var result = new long[rows * numSamples];
            var cdf = new double[n];
            var gen = generator ?? Tensor.DefaultGenerator;
            lock (gen)
            {
                for (var r = 0; r < rows; r++)
                {
                    var row = weights.AsSpan(r * n, n);
                    var total = Cumulative(row, cdf);
                    for (var s = 0; s < numSamples; s++)
                    {
                        var pick = Draw(cdf, gen.NextDouble() * total);
                        result[r * numSamples + s] = pick;
                        if (!replacement)
                        {
                            row[pick] = 0;
                            total = Cumulative(row, cdf);
                        }
                    }
                }
            }

            return IndexTensor.FromArray(result, probabilities.Rank == 1 ? [numSamples] : [rows, numSamples]);
        }
    }

    private static double Cumulative(ReadOnlySpan<double> weights, double[] cdf)
    {
        var sum = 0.0;
        for (var j = 0; j < weights.Length; j++)
        {
            cdf[j] = sum += weights[j];
        }

        return sum;
    }

    /// <summary>The first category whose cumulative weight exceeds u (so never one of weight 0); the last of positive weight if rounding put u at the total.</summary>
    private static int Draw(double[] cdf, double u)
    {
        int lo = 0, hi = cdf.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (cdf[mid] > u)
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        if (lo < cdf.Length)
        {
            return lo;
        }

        var last = cdf.Length - 1;
        while (last > 0 && cdf[last] == cdf[last - 1])
        {
            last--;
        }

        return last;
    }
}
