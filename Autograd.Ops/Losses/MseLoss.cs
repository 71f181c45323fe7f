using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class MseLossExtensions
{
    extension<T>(Tensor<T> input)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Mean squared error (PyTorch's mse_loss): lᵢ = (inputᵢ − targetᵢ)², reduced by
        /// <paramref name="reduction"/> (default: the mean). Input and target must have the same shape.
        /// VJP: dinput = 2·(input − target)·ĝ, dtarget = −dinput, ĝ = g per element (g / n for the mean).
        /// </summary>
        public Tensor<T> MseLoss(Tensor<T> target, Reduction reduction = Reduction.Mean, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            DifferenceLoss.Apply("MseLoss", new CallSite(callerFile, callerLine), input, target, reduction, static d => d.Mul(d), static d => d.Mul(Tensor.Scalar(T.CreateChecked(2))));
    }
}
