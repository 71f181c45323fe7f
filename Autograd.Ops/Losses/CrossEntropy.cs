using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class CrossEntropyExtensions
{
    extension<T>(Tensor<T> logits)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Cross-entropy of logits [N, C], [N, C, d1, …] or unbatched [C] against class indices (PyTorch's
        /// cross_entropy): NllLoss(LogSoftmax(logits, class dim), targets, weight, ignoreIndex, reduction),
        /// numerically stable for large logits. Targets are row-major over [N, d1, …];
        /// <paramref name="weight"/>, <paramref name="ignoreIndex"/> and <paramref name="reduction"/> are as
        /// in <see cref="NllLossExtensions"/>.
        /// </summary>
        /// <remarks>
        /// With <paramref name="labelSmoothing"/> ε &gt; 0 the loss is PyTorch's
        /// (1 − ε)·nll + (ε / C)·s, where the smoothing term per target is sᵢ = −Σ_c w[c]·logp[i, c]
        /// (w = 1 without weights), 0 for ignored targets, and s is reduced like nll: the sum, or for the
        /// mean Σ sᵢ divided by the same Σ w[tᵢ] (the count of targets not ignored without weights).
        /// Everything is composed of recorded ops, so the VJP is the chain rule through them:
        /// without smoothing or weights, dlogits = (softmax(logits) − onehot(t))·ĝ.
        /// </remarks>
        public Tensor<T> CrossEntropy(
            int[] targets, Tensor<T>? weight = null, int ignoreIndex = -100, Reduction reduction = Reduction.Mean, double labelSmoothing = 0.0, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            // Composed of recorded ops: each names the caller's line, not one in this file.
            using var callSite = CallSite.Enter(callerFile, callerLine);
            ArgumentNullException.ThrowIfNull(logits);
            var plan = ClassTargets<T>.Plan(logits, targets, weight, ignoreIndex, reduction, "CrossEntropy");
            if (!(labelSmoothing >= 0.0 && labelSmoothing <= 1.0))
            {
                throw new ArgumentException(
                    $"CrossEntropy: labelSmoothing must be in [0, 1], got {labelSmoothing} (input {ShapeMath.Format(logits.ShapeArray)}).", nameof(labelSmoothing));
            }

            var classDim = logits.Rank == 1 ? 0 : 1;
            var logProbs = logits.LogSoftmax(classDim);
            var nll = logProbs.NllLoss(targets, weight, ignoreIndex, reduction);
            if (labelSmoothing == 0.0)
            {
                return nll;
            }

            var classes = logits.ShapeArray[classDim];
            var weighted = weight is null ? logProbs : logProbs.Mul(weight.Reshape(ClassAxis(logits.Rank, classDim, classes)));

            // Σ_c w[c]·logp[i, c] per target times a constant coefficient: 0 for ignored targets (PyTorch's
            // masked_fill), −ε/C otherwise, divided by Σ w[tᵢ] for the mean. Folding the mask into the
            // coefficient keeps 0/0 out of the gradient when every target is ignored (the loss is then NaN
            // through the nll term, and the gradient zero, as PyTorch).
            var epsilon = T.CreateChecked(labelSmoothing);
            var scale = -epsilon / T.CreateChecked(classes);
            if (reduction == Reduction.Mean)
            {
                scale /= plan.TotalWeight();
            }

            var coefficientTensor = Tensor<T>.Uninitialized((int[])plan.OutputShape.Clone());
            using (var cw = coefficientTensor.Write())
            {
                var coefficient = cw.Elements;
                for (var k = 0; k < plan.Count; k++)
                {
                    coefficient[k] = plan.Ignored(k) ? T.Zero : scale;
                }
            }

            var smooth = weighted.Sum(classDim).Mul(coefficientTensor);
            if (reduction != Reduction.None)
            {
                smooth = smooth.Sum();
            }

            return nll.Mul(Tensor.Scalar(T.One - epsilon)).Add(smooth);
        }
    }

    /// <summary>[1, C, 1, …]: class weights broadcast along the class dimension of a rank-<paramref name="rank"/> input.</summary>
    private static int[] ClassAxis(int rank, int classDim, int classes)
    {
        var shape = Enumerable.Repeat(1, rank).ToArray();
        shape[classDim] = classes;
        return shape;
    }
}
