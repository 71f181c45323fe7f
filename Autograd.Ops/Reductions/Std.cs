using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class StdExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Standard deviation over one dimension.</summary>
        public Tensor<T> Std(int dim, double correction = 1, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => x.Std([dim], correction, keepDim, callerFile, callerLine);

        /// <summary>
        /// √Var(dims, correction) (see Var). VJP: dx = g·(x − mean) / ((N − correction)·y): infinite where
        /// y = 0 (all elements equal), as PyTorch.
        /// </summary>
        public Tensor<T> Std(int[]? dims = null, double correction = 1, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            x.Var(dims, correction, keepDim, callerFile, callerLine).Sqrt(callerFile, callerLine);
    }
}
