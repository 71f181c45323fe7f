using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

/// <summary>
/// <c>Tensor.Min(x, dim)</c> with positions, in a class (and file) of its own: compiled, a static extension takes
/// the same parameters as the instance <c>x.Min(dim, keepDim)</c>, and one class cannot hold both.
/// </summary>
public static class MinWithIndicesExtensions
{
    extension(Tensor)
    {
        /// <summary>
        /// PyTorch's <c>torch.min(x, dim)</c>: the smallest elements along <paramref name="dim"/> and their positions,
        /// <c>var (values, indices) = Tensor.Min(logits, 1)</c>. The values are <c>x.Min(dim, keepDim)</c>
        /// (differentiable: the gradient goes to the position returned), the indices <c>x.Argmin(dim, keepDim)</c>
        /// (the first one on a tie; NaN counts as the extreme, as PyTorch).
        /// </summary>
        public static (Tensor<T> Values, IndexTensor Indices) Min<T>(Tensor<T> x, int dim, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            ArgumentNullException.ThrowIfNull(x);
            return (x.Min(dim, keepDim, callerFile, callerLine), x.Argmin(dim, keepDim));
        }
    }
}
