using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class DropoutExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Dropout (PyTorch's dropout): in <paramref name="training"/> each element is zeroed with
        /// probability <paramref name="p"/> and the survivors are scaled by 1/(1 − p), so the expectation is
        /// unchanged; otherwise (or for p = 0) the input itself is returned. The mask is drawn in row-major
        /// order from <paramref name="generator"/> (default: <see cref="Tensor.DefaultGenerator"/>), so a
        /// seed reproduces it. VJP: dx = g ⊙ mask, the saved mask of 0 and 1/(1 − p).
        /// </summary>
        public Tensor<T> Dropout(double p = 0.5, bool training = true, Generator? generator = null, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            if (!(p >= 0 && p <= 1))
            {
                throw new ArgumentException($"Dropout: probability p must be in [0, 1], got {p} (input {ShapeMath.Format(x.ShapeArray)}).", nameof(p));
            }

            if (!training || p == 0)
            {
                return x;
            }

            // Bernoulli(1 − p) / (1 − p), as PyTorch; p = 1 drops everything (mask 0, not 0·∞).
            var scale = p == 1 ? T.Zero : T.One / (T.One - T.CreateChecked(p));
            var maskTensor = Tensor<T>.Uninitialized((int[])x.ShapeArray.Clone());
            var gen = generator ?? Tensor.DefaultGenerator;
            using (var mw = maskTensor.Write())
            {
                var mask = mw.Elements;
                lock (gen)
                {
                    for (var i = 0; i < mask.Length; i++)
                    {
                        mask[i] = gen.NextDouble() >= p ? scale : T.Zero;
                    }
                }
            }

            Tensor<T> result;
            using (Tensor.NoGrad())
            {
                result = x.Mul(maskTensor);
            }

            if (Tape.ShouldRecord(x))
            {
                Tape.Record("Dropout", new CallSite(callerFile, callerLine), result, [x], (g, grads) => grads[0] = g.Mul(maskTensor));
            }

            return result;
        }
    }
}
