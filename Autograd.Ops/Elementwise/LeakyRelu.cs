using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class LeakyReluExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>x where x &gt; 0, else negativeSlope·x. VJP: dx = g where x &gt; 0, else negativeSlope·g (PyTorch's choice at 0).</summary>
        public Tensor<T> LeakyRelu(double negativeSlope = 0.01, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            var slope = T.CreateTruncating(negativeSlope);
            return ElementwiseOp.Unary("LeakyRelu", new CallSite(callerFile, callerLine), x, (s, d) =>
            {
                for (var i = 0; i < d.Length; i++)
                {
                    d[i] = s[i] > T.Zero ? s[i] : s[i] * slope;
                }
            }, ElementwiseOp.Saves.Input, (g, x, y) => g * (x.Gt(0.0) * (1 - negativeSlope) + negativeSlope));
        }
    }
}
