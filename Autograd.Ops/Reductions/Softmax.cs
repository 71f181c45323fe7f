using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class SoftmaxExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// exp(x) / Σ_dim exp(x) along <paramref name="dim"/>, computed as exp(LogSoftmax(x)) (stable for
        /// large inputs). VJP: dx = y·(g − Σ_dim g·y), with y the saved output (differentiable again).
        /// </summary>
        public Tensor<T> Softmax(int dim, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            var d = ShapeMath.NormalizeDim(dim, x.Rank, "Softmax");
            Tensor<T> result;
            using (Tensor.NoGrad())
            {
                result = x.Detach().LogSoftmax(d).Exp();
            }

            if (OpTrace.IsActive)
            {
                OpTrace.Add("Softmax", result, [x], ("dim", d));
            }

            if (Tape.ShouldRecord(x))
            {
                Tape.Record("Softmax", new CallSite(callerFile, callerLine), result, [x], (g, grads) => grads[0] = result * (g - (g * result).Sum(d, keepDim: true)), result);
            }

            return result;
        }
    }
}
