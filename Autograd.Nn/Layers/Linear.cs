using System.Numerics;

namespace Autograd.Nn;

/// <summary>
/// y = x·Wᵀ + b (PyTorch's <c>nn.Linear</c>) over the last dimension of x [..., in]. The weight is
/// stored [out, in] like PyTorch's, so a state dict maps one to one; the transpose is a view, which
/// the GEMM reads without a copy.
/// </summary>
public sealed class Linear<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <param name="inFeatures">Size of each input sample.</param>
    /// <param name="outFeatures">Size of each output sample.</param>
    /// <param name="bias">Whether to learn an additive bias.</param>
    /// <param name="generator">Source of the initial weights (the default generator when null).</param>
    public Linear(int inFeatures, int outFeatures, bool bias = true, Generator? generator = null)
    {
        if (inFeatures < 1 || outFeatures < 1)
        {
            throw new ArgumentException($"Linear: in_features and out_features must be positive, got ({inFeatures}, {outFeatures}).", nameof(inFeatures));
        }

        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        // PyTorch's reset_parameters: kaiming_uniform(a=√5) = U(±1/√in) for W, U(±1/√in) for b.
        Weight = RegisterParameter("weight", Init.DefaultWeight(Tensor.Zeros<T>(outFeatures, inFeatures), generator))!;
        Bias = RegisterParameter("bias", bias ? Init.DefaultBias(Tensor.Zeros<T>(outFeatures), inFeatures, generator) : null);
    }

    public int InFeatures { get; }

    public int OutFeatures { get; }

    /// <summary>[out, in].</summary>
    public Tensor<T> Weight { get; }

    /// <summary>[out], or null.</summary>
    public Tensor<T>? Bias { get; }

    protected override Tensor<T> ForwardCore(Tensor<T> input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank < 1 || input.Size(-1) != InFeatures)
        {
            throw new ArgumentException($"Linear: input's last dimension must be in_features = {InFeatures}, got input {ShapeMath.Format(input.Shape)} (weight {ShapeMath.Format(Weight.Shape)}).", nameof(input));
        }

        var y = input.MatMul(Weight.Transpose(0, 1));
        return Bias is null ? y : y + Bias;
    }

    protected override string ExtraRepr() =>
        $"in_features={InFeatures}, out_features={OutFeatures}, bias={(Bias is null ? "False" : "True")}";
}
