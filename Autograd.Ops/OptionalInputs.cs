using System.Numerics;

namespace Autograd;

/// <summary>The recorded inputs of an op with two optional tensor arguments, and where each landed (−1: absent).</summary>
internal static class OptionalInputs
{
    public static (Tensor<T>[] Inputs, int FirstAt, int SecondAt) Of<T>(Tensor<T>[] required, Tensor<T>? first, Tensor<T>? second)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        List<Tensor<T>> inputs = [.. required];
        var firstAt = first is null ? -1 : inputs.Count;
        if (first is not null)
        {
            inputs.Add(first);
        }

        var secondAt = second is null ? -1 : inputs.Count;
        if (second is not null)
        {
            inputs.Add(second);
        }

        return ([.. inputs], firstAt, secondAt);
    }
}
