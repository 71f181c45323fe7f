namespace Autograd.Nn.Tests;

/// <summary>
/// A token embedding as a user would write one until Nn has an Embedding: weight [count, dim], rows looked up
/// through IndexSelect, and a settable <see cref="Weight"/> through <see cref="Module{T}.ReplaceParameter"/>
/// (what weight tying assigns). The input holds the token ids as doubles.
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
