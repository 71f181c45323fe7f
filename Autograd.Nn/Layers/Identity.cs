using System.Numerics;

namespace Autograd.Nn;

/// <summary>
/// Returns its input (PyTorch's <c>nn.Identity</c>): a placeholder where a layer is optional, such as a
/// projection that a configuration leaves out (<c>Proj = RegisterModule("proj", useProj ? new Linear&lt;float&gt;(d, d) : new Identity&lt;float&gt;())</c>).
/// </summary>
public sealed class Identity<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    protected override Tensor<T> ForwardCore(Tensor<T> input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return input;
    }
}
