namespace Autograd.Nn.Tests;

/// <summary>
/// A token embedding of one's own (Nn's is <see cref="Embedding{T}"/>, which takes an <see cref="IndexTensor"/>):
/// weight [count, dim], rows looked up through IndexSelect, and a settable <see cref="Weight"/> through
/// <see cref="Module{T}.ReplaceParameter"/> (what weight tying assigns), as a user's module would write it. The input
/// holds the token ids as doubles, so it sits in a <see cref="Sequential{T}"/>-style tensor-to-tensor forward.
/// </summary>
internal sealed class TokenEmbedding : Module<double>
{
    public TokenEmbedding(int count, int dim)
    {
        // A fixed pattern; tests that want random weights call Init.Normal.
        Weight = RegisterParameter("weight", Tensor.FromArray(Enumerable.Range(0, count * dim).Select(i => 0.1 * (i % 7) - 0.3).ToArray(), [count, dim]))!;
    }

    public Tensor<double> Weight
    {
        get;
        set => field = ReplaceParameter("weight", value)!;
    }

    /// <summary>Replaces a parameter that was never registered (it throws).</summary>
    public void ReplaceUnknown() => ReplaceParameter("bias", Tensor.Zeros<double>(1));

    protected override Tensor<double> ForwardCore(Tensor<double> input) =>
        Weight.IndexSelect(0, IndexTensor.FromArray(input.ToArray().Select(v => (long)v).ToArray()));
}
