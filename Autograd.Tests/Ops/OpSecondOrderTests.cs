using static Autograd.Tests.SecondOrderTests;

namespace Autograd.Tests.Ops;

/// <summary>
/// The everyday ops' gradient properties rerun at the second order (GradGradCheck through createGraph),
/// as <see cref="SecondOrderTests"/> does for the first op set.
/// </summary>
[Category("GradProperty")]
public class OpSecondOrderTests
{
    // ---- MathOpTests ----

    [Test]
    public void Pow_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MathOpTests().Pow_GradientMatchesFiniteDifferences);

    [Test]
    public void PowScalarExponent_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MathOpTests().PowScalarExponent_GradientMatchesFiniteDifferences);

    [Test]
    public void Sqrt_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MathOpTests().Sqrt_GradientMatchesFiniteDifferences);

    [Test]
    public void Rsqrt_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MathOpTests().Rsqrt_GradientMatchesFiniteDifferences);

    [Test]
    public void Abs_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MathOpTests().Abs_GradientMatchesFiniteDifferences);

    [Test]
    public void Cast_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MathOpTests().Cast_GradientMatchesFiniteDifferences);

    [Test]
    public void Sign_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MathOpTests().Sign_GradientMatchesFiniteDifferences);

    [Test]
    public void Square_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MathOpTests().Square_GradientMatchesFiniteDifferences);

    [Test]
    public void Clamp_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MathOpTests().Clamp_GradientMatchesFiniteDifferences);

    [Test]
    public void Maximum_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MathOpTests().Maximum_GradientMatchesFiniteDifferences);

    [Test]
    public void Minimum_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MathOpTests().Minimum_GradientMatchesFiniteDifferences);

    [Test]
    public void Softplus_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MathOpTests().Softplus_GradientMatchesFiniteDifferences);

    [Test]
    public void LeakyRelu_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MathOpTests().LeakyRelu_GradientMatchesFiniteDifferences);

    [Test]
    public void Gelu_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MathOpTests().Gelu_GradientMatchesFiniteDifferences);

    [Test]
    public void Erf_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MathOpTests().Erf_GradientMatchesFiniteDifferences);

    [Test]
    public void Where_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MathOpTests().Where_GradientMatchesFiniteDifferences);

    [Test]
    public void MaskedFill_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MathOpTests().MaskedFill_GradientMatchesFiniteDifferences);

    // ---- MoreReductionTests ----

    [Test]
    public void Min_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MoreReductionTests().Min_GradientMatchesFiniteDifferences);

    [Test]
    public void Prod_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MoreReductionTests().Prod_GradientMatchesFiniteDifferences);

    [Test]
    public void ProdWithZeros_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MoreReductionTests().ProdWithZeros_GradientMatchesFiniteDifferences);

    [Test]
    public void Var_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MoreReductionTests().Var_GradientMatchesFiniteDifferences);

    [Test]
    public void Std_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MoreReductionTests().Std_GradientMatchesFiniteDifferences);

    [Test]
    public void LogSumExp_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MoreReductionTests().LogSumExp_GradientMatchesFiniteDifferences);

    [Test]
    public void Softmax_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MoreReductionTests().Softmax_GradientMatchesFiniteDifferences);

    // ---- JoinAndIndexTests ----

    [Test]
    public void Cat_SecondOrderMatchesFiniteDifferences() => SecondOrder(new JoinAndIndexTests().Cat_GradientMatchesFiniteDifferences);

    [Test]
    public void Stack_SecondOrderMatchesFiniteDifferences() => SecondOrder(new JoinAndIndexTests().Stack_GradientMatchesFiniteDifferences);

    [Test]
    public void Split_AndChunk_SecondOrderMatchesFiniteDifferences() => SecondOrder(new JoinAndIndexTests().Split_AndChunk_GradientMatchesFiniteDifferences);

    [Test]
    public void IndexSelect_SecondOrderMatchesFiniteDifferences() => SecondOrder(new JoinAndIndexTests().IndexSelect_GradientMatchesFiniteDifferences);

    [Test]
    public void Gather_SecondOrderMatchesFiniteDifferences() => SecondOrder(new JoinAndIndexTests().Gather_GradientMatchesFiniteDifferences);

    [Test]
    public void ScatterAdd_SecondOrderMatchesFiniteDifferences() => SecondOrder(new JoinAndIndexTests().ScatterAdd_GradientMatchesFiniteDifferences);

    [Test]
    public void Indexer_SecondOrderMatchesFiniteDifferences() => SecondOrder(new JoinAndIndexTests().Indexer_GradientMatchesFiniteDifferences);
}
