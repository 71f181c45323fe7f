using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class Dropout2dExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Channel dropout (PyTorch's dropout2d, Tompson et al. 2015) of input [N, C, H, W] or unbatched [C, H, W]:
        /// in <paramref name="training"/> each whole channel (n, c) is zeroed with probability <paramref name="p"/>
        /// and the surviving channels are scaled by 1/(1 − p); otherwise (or for p = 0) the input itself is
        /// returned. Neighbouring pixels of a feature map are strongly correlated, so dropping single elements
        /// (Dropout) barely regularises a convolution; dropping maps does. The mask [N, C, 1, 1] is drawn in
        /// row-major order from <paramref name="generator"/> (default: <see cref="Tensor.DefaultGenerator"/>).
        /// VJP: dx = g ⊙ mask (broadcast over H, W).
        /// </summary>
        public Tensor<T> Dropout2d(double p = 0.5, bool training = true, Generator? generator = null, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            if (x.Rank is not (3 or 4))
            {
                throw new ArgumentException($"Dropout2d: input must be 4-D [N, C, H, W] or 3-D [C, H, W], got rank {x.Rank} (input {ShapeMath.Format(x.ShapeArray)}).", nameof(x));
            }

            if (!(p >= 0 && p <= 1))
            {
                throw new ArgumentException($"Dropout2d: probability p must be in [0, 1], got {p} (input {ShapeMath.Format(x.ShapeArray)}).", nameof(p));
            }

            if (!training || p == 0)
            {
                return x;
            }

            // One draw per channel: the mask keeps the leading dims and is 1 over the two spatial ones.
            var maskShape = x.ShapeArray.Select((d, i) => i < x.Rank - 2 ? d : 1).ToArray();
            return DropoutExtensions.ApplyMask(x, DropoutExtensions.Mask<T>(maskShape, p, generator), "Dropout2d", new CallSite(callerFile, callerLine));
        }
    }
}
