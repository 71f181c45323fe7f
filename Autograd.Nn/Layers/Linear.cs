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
    private Tensor<T> _weight;

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
        _weight = RegisterParameter("weight", Init.DefaultWeight(Tensor.Zeros<T>(outFeatures, inFeatures), generator))!;
        Bias = RegisterParameter("bias", bias ? Init.DefaultBias(Tensor.Zeros<T>(outFeatures), inFeatures, generator) : null);
    }

    public int InFeatures { get; }

    public int OutFeatures { get; }

    /// <summary>
    /// [out, in]. Setting it replaces the registered parameter (PyTorch's <c>linear.weight = other</c>);
    /// setting it to another module's parameter ties the two (<c>lmHead.Weight = wte.Weight</c>, see
    /// <see cref="Module{T}.ReplaceParameter"/>). Do it before making the optimiser, which keeps the tensors
    /// it was given.
    /// </summary>
    public Tensor<T> Weight
    {
        get => _weight;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (value.Rank != 2 || value.Size(0) != OutFeatures || value.Size(1) != InFeatures)
            {
                throw new ArgumentException(
                    $"Linear: weight must have shape [out_features, in_features] = [{OutFeatures}, {InFeatures}], got {ShapeMath.Format(value.Shape)}.", nameof(value));
            }

            _weight = ReplaceParameter("weight", value)!;
        }
    }

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
