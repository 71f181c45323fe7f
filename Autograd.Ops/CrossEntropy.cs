using System.Numerics;

namespace Autograd;

public static class CrossEntropyExtensions
{
    extension<T>(Tensor<T> logits)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Cross-entropy of logits [N, C] against class indices: NllLoss(LogSoftmax(logits, 1), targets),
        /// the mean over the batch, numerically stable for large logits. Its VJP is the composition of
        /// the two: dlogits = (softmax(logits) − onehot(targets)) · g / N.
        /// </summary>
        public Tensor<T> CrossEntropy(int[] targets)
        {
            ArgumentNullException.ThrowIfNull(logits);
            ArgumentNullException.ThrowIfNull(targets);
            NllLossExtensions.CheckTargets(logits, targets, "CrossEntropy");
            return logits.LogSoftmax(1).NllLoss(targets);
        }
    }
}
