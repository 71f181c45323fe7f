using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class L1LossExtensions
{
    extension<T>(Tensor<T> input)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Mean absolute error (PyTorch's l1_loss): lᵢ = |inputᵢ − targetᵢ|, reduced by
        /// <paramref name="reduction"/> (default: the mean). Input and target must have the same shape.
        /// VJP: dinput = sign(input − target)·ĝ (0 where they are equal, as PyTorch), dtarget = −dinput,
        /// ĝ = g per element (g / n for the mean). The sign is a constant: its derivative is 0 almost everywhere.
        /// </summary>
        public Tensor<T> L1Loss(Tensor<T> target, Reduction reduction = Reduction.Mean, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            DifferenceLoss.Apply("L1Loss", new CallSite(callerFile, callerLine), input, target, reduction, static d => Map(d, T.Abs), static d => Map(d, Sign));
    }

    // T.Sign throws on NaN; PyTorch's sign keeps NaN, so the gradient is NaN there.
    private static T Sign<T>(T v)
        where T : unmanaged, IFloatingPointIeee754<T>
        => T.IsNaN(v) ? v : T.CreateChecked(T.Sign(v));

    /// <summary>f applied in place to a fresh difference tensor, as a constant (nothing recorded).</summary>
    private static Tensor<T> Map<T>(Tensor<T> fresh, Func<T, T> f)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var detached = fresh.Detach();
        using var dw = detached.Write();
        var data = dw.Span;
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = f(data[i]);
        }

        return detached;
    }
}
