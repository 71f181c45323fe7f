using System.Numerics;

namespace Autograd;

public static class NllLossExtensions
{
    extension<T>(Tensor<T> logProbs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Negative log-likelihood: −(1/N) Σ_n logProbs[n, targets[n]] for logProbs [N, C] and class
        /// indices in 0..C−1 (mean over the batch, as PyTorch's default reduction).
        /// VJP: dlogProbs[n, targets[n]] = −g / N, zero elsewhere.
        /// </summary>
        public Tensor<T> NllLoss(int[] targets)
        {
            ArgumentNullException.ThrowIfNull(logProbs);
            ArgumentNullException.ThrowIfNull(targets);
            var (n, classes) = CheckTargets(logProbs, targets, "NllLoss");
            var sum = T.Zero;
            for (var i = 0; i < n; i++)
            {
                sum += logProbs.At(i, targets[i]);
            }

            var scale = T.One / T.CreateChecked(n);
            var result = Tensor.Scalar(-sum * scale);
            if (Tape.ShouldRecord(logProbs))
            {
                var picked = (int[])targets.Clone();
                Tape.Record("NllLoss", result, [logProbs], (g, grads) =>
                {
                    var dx = new T[n * classes];
                    var gv = g.Item() * scale;
                    for (var i = 0; i < n; i++)
                    {
                        dx[i * classes + picked[i]] = -gv;
                    }

                    grads[0] = new Tensor<T>(dx, [n, classes]);
                });
            }

            return result;
        }
    }

    /// <summary>Checks a [N, C] input against N class indices in 0..C−1; shared with CrossEntropy.</summary>
    internal static (int N, int Classes) CheckTargets<T>(Tensor<T> input, int[] targets, string op)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (input.Rank != 2)
        {
            throw new ArgumentException($"{op}: input must be [N, C], got shape {ShapeMath.Format(input._shape)}.", nameof(input));
        }

        var (n, classes) = (input._shape[0], input._shape[1]);
        if (targets.Length != n)
        {
            throw new ArgumentException($"{op}: {targets.Length} targets for a batch of {n} (input {ShapeMath.Format(input._shape)}).", nameof(targets));
        }

        if (n == 0)
        {
            throw new ArgumentException($"{op}: the batch is empty (input {ShapeMath.Format(input._shape)}).", nameof(input));
        }

        for (var i = 0; i < n; i++)
        {
            if ((uint)targets[i] >= (uint)classes)
            {
                throw new ArgumentException($"{op}: target {targets[i]} at position {i} is not a class index in 0..{classes - 1} (input {ShapeMath.Format(input._shape)}).", nameof(targets));
            }
        }

        return (n, classes);
    }
}
