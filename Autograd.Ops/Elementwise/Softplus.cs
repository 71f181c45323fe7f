using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class SoftplusExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// log(1 + exp(βx)) / β elementwise, and x itself where βx &gt; threshold (PyTorch's linear
        /// region; the two differ there by less than e^(−threshold)/β). Computed as
        /// max(βx, 0) + log1p(exp(−|βx|)), which neither overflows nor loses small values.
        /// VJP: dx = g·sigmoid(βx), and g where βx &gt; threshold. An infinite threshold never switches to
        /// the linear region (BinaryCrossEntropyWithLogits uses that for PyTorch's exact formula).
        /// </summary>
        public Tensor<T> Softplus(double beta = 1, double threshold = 20, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            if (!(beta != 0) || !double.IsFinite(beta))
            {
                throw new ArgumentException($"Softplus: beta must be finite and non-zero, got {beta} (input shape {ShapeMath.Format(x.ShapeArray)}).", nameof(beta));
            }

            return ElementwiseOp.Unary("Softplus", new CallSite(callerFile, callerLine), x, (s, d) =>
            {
                for (var i = 0; i < d.Length; i++)
                {
                    var v = double.CreateTruncating(s[i]);
                    var z = beta * v;
                    d[i] = z > threshold ? s[i] : T.CreateTruncating((Math.Max(z, 0) + Special.Log1P(Math.Exp(-Math.Abs(z)))) / beta);
                }
            }, ElementwiseOp.Saves.Input, (g, x, y) =>
            {
                var z = beta == 1 ? x : x * beta;
                var slope = z.Sigmoid();
                return g * (double.IsPositiveInfinity(threshold) ? slope : slope.MaskedFill(z.Gt(threshold), 1));
            }, Elementwise.Cost.Special);
        }
    }
}
