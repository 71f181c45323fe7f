using Autograd.Nn;

namespace Autograd.Nn.Tests;

public class InitTests
{
    [Test]
    public void LinearAndConvDefaults_AreUniformWithinOneOverSqrtFanIn()
    {
        // kaiming_uniform(a=√5): gain √(2/6), bound √3·gain/√fan_in = 1/√fan_in.
        var linear = new Linear<double>(400, 120, generator: new Generator(0));
        var bound = 1 / Math.Sqrt(400);
        var w = linear.Weight.ToArray();
        Assert.That(w.Max(Math.Abs), Is.LessThanOrEqualTo(bound).And.GreaterThan(0.99 * bound));
        Assert.That(w.Average(), Is.EqualTo(0).Within(0.05 * bound));
        // U(−b, b) has variance b²/3.
        Assert.That(w.Average(v => v * v), Is.EqualTo(bound * bound / 3).Within(0.03 * bound * bound));
        Assert.That(linear.Bias!.ToArray().Max(Math.Abs), Is.LessThanOrEqualTo(bound));

        var conv = new Conv2d<double>(6, 16, 5, generator: new Generator(0));
        var convBound = 1 / Math.Sqrt(6 * 25);
        Assert.That(conv.Weight.ToArray().Max(Math.Abs), Is.LessThanOrEqualTo(convBound).And.GreaterThan(0.99 * convBound));
        Assert.That(conv.Bias!.ToArray().Max(Math.Abs), Is.LessThanOrEqualTo(convBound).And.GreaterThan(0.8 * convBound));
    }

    [Test]
    public void SameSeed_SameWeights()
    {
        var a = new Linear<float>(10, 5, generator: new Generator(7)).Weight.ToArray();
        var b = new Linear<float>(10, 5, generator: new Generator(7)).Weight.ToArray();
        var c = new Linear<float>(10, 5, generator: new Generator(8)).Weight.ToArray();
        Assert.That(a, Is.EqualTo(b));
        Assert.That(a, Is.Not.EqualTo(c));
    }

    [Test]
    public void KaimingNormal_And_Xavier_HaveTheirVariances()
    {
        var t = Tensor.Zeros<double>(200, 300);
        Init.KaimingNormal(t, nonlinearity: Nonlinearity.Relu, generator: new Generator(1));
        Assert.That(t.ToArray().Average(v => v * v), Is.EqualTo(2.0 / 300).Within(0.03 * 2.0 / 300));
        Init.KaimingNormal(t, mode: FanMode.FanOut, nonlinearity: Nonlinearity.Relu, generator: new Generator(1));
        Assert.That(t.ToArray().Average(v => v * v), Is.EqualTo(2.0 / 200).Within(0.03 * 2.0 / 200));
        Init.XavierNormal(t, generator: new Generator(2));
        Assert.That(t.ToArray().Average(v => v * v), Is.EqualTo(2.0 / 500).Within(0.03 * 2.0 / 500));
        Init.XavierUniform(t, gain: 2, generator: new Generator(3));
        var b = 2 * Math.Sqrt(6.0 / 500);
        Assert.That(t.ToArray().Max(Math.Abs), Is.LessThanOrEqualTo(b).And.GreaterThan(0.99 * b));
        Assert.That(Init.Zeros(t).ToArray(), Is.All.EqualTo(0.0));
        Assert.That(Init.Ones(t).ToArray(), Is.All.EqualTo(1.0));
    }

    [Test]
    public void Gains_AndFans_AreTorchs()
    {
        Assert.That(Init.CalculateGain(Nonlinearity.Relu), Is.EqualTo(Math.Sqrt(2)));
        Assert.That(Init.CalculateGain(Nonlinearity.Tanh), Is.EqualTo(5.0 / 3));
        Assert.That(Init.CalculateGain(Nonlinearity.LeakyRelu, Math.Sqrt(5)), Is.EqualTo(Math.Sqrt(1.0 / 3)).Within(1e-15));
        Assert.That(Init.CalculateFanInAndFanOut(Tensor.Zeros<float>(16, 6, 5, 5)), Is.EqualTo((150, 400)));
        Assert.Throws<ArgumentException>(() => Init.CalculateFanInAndFanOut(Tensor.Zeros<float>(3)));
    }

    [Test]
    public void Init_OnAParameter_RecordsNothing_AndKeepsTheTensor()
    {
        var linear = new Linear<float>(3, 2);
        var w = linear.Weight;
        Init.XavierUniform(w);
        Assert.That(linear.Weight, Is.SameAs(w));
        Assert.That(w.IsLeaf && w.RequiresGrad);
    }

    // The tests below kill mutants that survived the Stryker run of 2026-12-07 (docs/verification.md, "Autograd.Nn").

    [Test]
    public void Gains_OfLinearConvAndSigmoid_AreOne() =>
        Assert.That(new[] { Nonlinearity.Linear, Nonlinearity.Conv2d, Nonlinearity.Sigmoid }.Select(n => Init.CalculateGain(n)), Is.All.EqualTo(1.0));

    [Test]
    public void XavierUniformAndDefaultBias_SpanBothSigns_WithinTheirBounds()
    {
        // U(−b, b) with b = √(6 / (fan_in + fan_out)) = √(6 / 100), and the bias's U(±1/√fan_in).
        var w = Init.XavierUniform(Tensor.Zeros<double>(50, 50), generator: new Generator(4)).ToArray();
        Assert.That(w.Min(), Is.LessThan(0).And.GreaterThanOrEqualTo(-Math.Sqrt(0.06)));
        Assert.That(w.Max(), Is.GreaterThan(0).And.LessThanOrEqualTo(Math.Sqrt(0.06)));
        var b = Init.DefaultBias(Tensor.Zeros<double>(200), fanIn: 25, generator: new Generator(5)).ToArray();
        Assert.That(b.Min(), Is.LessThan(0).And.GreaterThanOrEqualTo(-0.2));
        Assert.That(b.Max(), Is.GreaterThan(0).And.LessThanOrEqualTo(0.2));
    }

    [Test]
    public void DefaultBias_WithNoFanIn_IsZero() =>
        Assert.That(Init.DefaultBias(Tensor.Ones<double>(3), fanIn: 0).ToArray(), Is.All.EqualTo(0.0));

    [Test]
    public void UniformAndNormal_TakeDegenerateBounds_AndRejectBadOnes()
    {
        // PyTorch's uniform_(t, 2, 2) and normal_(t, 3, 0) fill constants.
        Assert.That(Init.Uniform(Tensor.Zeros<double>(4), 2, 2).ToArray(), Is.All.EqualTo(2.0));
        Assert.That(Init.Normal(Tensor.Zeros<double>(4), 3, 0).ToArray(), Is.All.EqualTo(3.0));
        Assert.Throws<ArgumentException>(() => Init.Uniform(Tensor.Zeros<double>(4), 1, 0));
        Assert.Throws<ArgumentException>(() => Init.Uniform(Tensor.Zeros<double>(4), 0, double.PositiveInfinity));
        Assert.Throws<ArgumentException>(() => Init.Uniform(Tensor.Zeros<double>(4), double.NegativeInfinity, 0));
        Assert.Throws<ArgumentException>(() => Init.Normal(Tensor.Zeros<double>(4), 0, -1));
        Assert.Throws<ArgumentException>(() => Init.Normal(Tensor.Zeros<double>(4), double.NaN, 1));
        Assert.Throws<ArgumentNullException>(() => Init.Uniform<double>(null!));
        Assert.Throws<ArgumentNullException>(() => Init.CalculateFanInAndFanOut<double>(null!));
    }
}
