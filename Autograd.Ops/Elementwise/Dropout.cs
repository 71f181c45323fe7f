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

            return ApplyMask(x, Mask<T>((int[])x.ShapeArray.Clone(), p, generator), "Dropout", new CallSite(callerFile, callerLine));
        }
    }

    /// <summary>y = x ⊙ mask (the mask broadcast), recorded as <paramref name="op"/> with VJP dx = g ⊙ mask.</summary>
    internal static Tensor<T> ApplyMask<T>(Tensor<T> x, Tensor<T> mask, string op, CallSite callSite)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Tensor<T> result;
        using (Tensor.NoGrad())
        {
            result = x.Mul(mask);
        }

        if (Tape.ShouldRecord(x))
        {
            Tape.Record(op, callSite, result, [x], (g, grads) => grads[0] = g.Mul(mask));
        }

        return result;
    }

    /// <summary>
    /// A dropout mask of <paramref name="shape"/>: each element Bernoulli(1 − p) / (1 − p), as PyTorch, drawn in
    /// row-major order from <paramref name="generator"/> (default: the default generator); p = 1 drops
    /// everything (mask 0, not 0·∞). Dropout draws one per element, Dropout2d one per channel.
    /// </summary>
    internal static Tensor<T> Mask<T>(int[] shape, double p, Generator? generator)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var scale = p == 1 ? T.Zero : T.One / (T.One - T.CreateChecked(p));
        var maskTensor = Tensor<T>.Uninitialized(shape);
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

        return maskTensor;
    }
}
