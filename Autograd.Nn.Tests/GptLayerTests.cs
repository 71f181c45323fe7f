namespace Autograd.Nn.Tests;

/// <summary>
/// The modules a GPT adds to the layer set: GELU, LeakyReLU, Softmax, the loss modules and LayerNorm without
/// a bias. Expected values are written out from their formulas (Python's math module), not from our ops.
/// </summary>
public class GptLayerTests
{
    [Test]
    public void GELU_Exact_And_Tanh_MatchTheirFormulas()
    {
        var x = Tensor.FromArray([1.0, -1.0, 0.5]);
        // x·Φ(x) = x·(1 + erf(x/√2))/2
        Assert.That(new GELU<double>().Forward(x).ToArray(), Is.EqualTo(new[] { 0.8413447460685429, -0.15865525393145707, 0.34573123063700656 }).Within(1e-15));
        // x·(1 + tanh(√(2/π)(x + 0.044715x³)))/2
        Assert.That(new GELU<double>("tanh").Forward(x).ToArray(), Is.EqualTo(new[] { 0.8411919906082768, -0.15880800939172324, 0.34571400982514394 }).Within(1e-15));
        Assert.That(new GELU<float>("tanh").ToString(), Is.EqualTo("GELU(approximate='tanh')"));
        var ex = Assert.Throws<ArgumentException>(() => new GELU<double>("erf"));
        Assert.That(ex!.Message, Does.StartWith("GELU: approximate must be \"none\" or \"tanh\", got \"erf\""));
    }

    [Test]
    public void LeakyReLU_ScalesNegativesBySlope()
    {
        Assert.That(new LeakyReLU<double>(0.2).Forward(Tensor.FromArray([-2.0, 0.0, 3.0])).ToArray(), Is.EqualTo(new[] { -0.4, 0.0, 3.0 }).Within(1e-15));
        Assert.That(new LeakyReLU<double>().NegativeSlope, Is.EqualTo(0.01), "PyTorch's default");
        Assert.That(new LeakyReLU<float>().ToString(), Is.EqualTo("LeakyReLU(negative_slope=0.01)"));
        Assert.That(new LeakyReLU<float>(1e-5).ToString(), Is.EqualTo("LeakyReLU(negative_slope=1e-05)"));
        Assert.That(Assert.Throws<ArgumentException>(() => new LeakyReLU<double>(double.NaN))!.Message, Does.StartWith("LeakyReLU: negative_slope must be finite, got NaN"));
    }

    [Test]
    public void Softmax_NormalisesAlongItsDimension()
    {
        // e^k / (e + e² + e³)
        double[] row = [0.09003057317038046, 0.24472847105479767, 0.6652409557748219];
        var x = Tensor.FromArray([1.0, 2.0, 3.0, 1.0, 2.0, 3.0], [2, 3]);
        Assert.That(new Softmax<double>(-1).Forward(x).ToArray(), Is.EqualTo(row.Concat(row)).Within(1e-15));
        Assert.That(new Softmax<double>(0).Forward(x).ToArray(), Is.All.EqualTo(0.5).Within(1e-15), "equal columns: 1/2 each");
        Assert.That(new Softmax<float>(1).ToString(), Is.EqualTo("Softmax(dim=1)"));
        Assert.Throws<ArgumentException>(() => new Softmax<double>(2).Forward(x));
    }

    [Test]
    public void CrossEntropyLoss_IsTheOpWithTheConstructorsArguments()
    {
        var logits = Tensor.FromArray([2.0, 1.0, 0.0, 0.0, 0.0, 0.0], [2, 3]);
        int[] targets = [0, 2];
        // log(e² + e + 1) − 2 and log 3
        const double row0 = 0.40760596444438013, row1 = 1.0986122886681098;
        Assert.That(new CrossEntropyLoss<double>().Forward(logits, targets).Item(), Is.EqualTo((row0 + row1) / 2).Within(1e-15));
        Assert.That(new CrossEntropyLoss<double>(reduction: Reduction.Sum).Forward(logits, targets).Item(), Is.EqualTo(row0 + row1).Within(1e-15));
        Assert.That(new CrossEntropyLoss<double>(reduction: Reduction.None).Forward(logits, targets).ToArray(), Is.EqualTo(new[] { row0, row1 }).Within(1e-15));
        Assert.That(new CrossEntropyLoss<double>(ignoreIndex: 2).Forward(logits, targets).Item(), Is.EqualTo(row0).Within(1e-15), "the ignored target is out of the mean");

        var weight = Tensor.FromArray([3.0, 1.0, 1.0]);
        var weighted = new CrossEntropyLoss<double>(weight, labelSmoothing: 0.1);
        Assert.That(weighted.Forward(logits, targets).Item(), Is.EqualTo(logits.CrossEntropy(targets, weight, labelSmoothing: 0.1).Item()).Within(1e-15));
        Assert.That(weighted.StateDict().Keys, Is.EqualTo(new[] { "weight" }), "the class weights are a buffer, as in PyTorch");
        Assert.That(weighted.Parameters(), Is.Empty);
        Assert.That(new CrossEntropyLoss<double>().ToString(), Is.EqualTo("CrossEntropyLoss()"));
    }

    [Test]
    public void CrossEntropyLoss_Backward_IsSoftmaxMinusOneHot_OverN()
    {
        var logits = Tensor.FromArray([2.0, 1.0, 0.0, 0.0, 0.0, 0.0], [2, 3], requiresGrad: true);
        new CrossEntropyLoss<double>().Forward(logits, [0, 2]).Backward();
        // Row 1: softmax 1/3 each, one-hot at 2, over N = 2.
        Assert.That(logits.Grad!.ToArray()[3..], Is.EqualTo(new[] { 1.0 / 6, 1.0 / 6, -1.0 / 3 }).Within(1e-15));
    }

    [Test]
    public void MSELoss_ReducesLikeTheOp()
    {
        var input = Tensor.FromArray([1.0, 2.0, 3.0]);
        var target = Tensor.FromArray([1.0, 0.0, 0.0]);
        // squares 0, 4, 9
        Assert.That(new MSELoss<double>().Forward(input, target).Item(), Is.EqualTo(13.0 / 3).Within(1e-15));
        Assert.That(new MSELoss<double>(Reduction.Sum).Forward(input, target).Item(), Is.EqualTo(13.0));
        Assert.That(new MSELoss<double>(Reduction.None).Forward(input, target).ToArray(), Is.EqualTo(new[] { 0.0, 4.0, 9.0 }));
        Assert.That(new MSELoss<float>().ToString(), Is.EqualTo("MSELoss()"));
    }

    [Test]
    public void Losses_CheckTheirArguments_AndRefuseAForwardWithoutTarget()
    {
        Assert.That(Assert.Throws<ArgumentException>(() => new CrossEntropyLoss<double>(reduction: (Reduction)7))!.Message, Does.StartWith("CrossEntropyLoss: reduction must be None, Mean or Sum, got 7"));
        Assert.That(Assert.Throws<ArgumentException>(() => new MSELoss<double>((Reduction)(-1)))!.Message, Does.StartWith("MSELoss: reduction must be None, Mean or Sum, got -1"));
        Assert.That(Assert.Throws<ArgumentException>(() => new CrossEntropyLoss<double>(Tensor.Ones<double>(2, 3)))!.Message, Does.StartWith("CrossEntropyLoss: weight must be 1-D with one entry per class, got shape [2, 3]"));
        Assert.That(Assert.Throws<ArgumentException>(() => new CrossEntropyLoss<double>(labelSmoothing: 1.5))!.Message, Does.StartWith("CrossEntropyLoss: label_smoothing must be in [0, 1], got 1.5"));
        Assert.Throws<ArgumentNullException>(() => new MSELoss<double>().Forward(Tensor.Ones<double>(2), (Tensor<double>)null!));

        Module<double> asModule = new MSELoss<double>();
        var ex = Assert.Throws<InvalidOperationException>(() => asModule.Forward(Tensor.Ones<double>(2)));
        Assert.That(ex!.Message, Does.StartWith("MSELoss: a loss takes the input and the target: Forward(input, target), got only an input [2]"));
        Assert.That(Assert.Throws<ArgumentException>(() => new CrossEntropyLoss<double>().Forward(Tensor.Ones<double>(2, 3), [0, 5]))!.Message, Does.Contain("CrossEntropy"));
    }

    [Test]
    public void LayerNorm_WithoutBias_HasOnlyAWeight_InParametersAndStateDict()
    {
        var ln = new LayerNorm<double>(4, bias: false);
        Assert.That(ln.Bias, Is.Null);
        Assert.That(ln.Weight, Is.Not.Null);
        Assert.That(ln.NamedParameters().Select(p => p.Name), Is.EqualTo(new[] { "weight" }));
        Assert.That(ln.StateDict().Keys, Is.EqualTo(new[] { "weight" }));

        using (Tensor.NoGrad())
        {
            ln.Weight!.CopyFrom(Tensor.FromArray([1.0, 2.0, 1.0, 1.0]));
        }

        // (x − 2.5)/√(1.25 + 1e-5)·w for x = 1..4
        Assert.That(ln.Forward(Tensor.FromArray([1.0, 2.0, 3.0, 4.0], [1, 4])).ToArray(),
            Is.EqualTo(new[] { -1.3416354199689269, -0.894423613312618, 0.447211806656309, 1.3416354199689269 }).Within(1e-14));

        var withBias = new LayerNorm<double>(4).StateDict();
        var ex = Assert.Throws<StateDictException>(() => ln.LoadStateDict(withBias));
        Assert.That(ex!.Errors, Is.EqualTo(new[] { "unexpected key 'bias'" }));
        Assert.That(new LayerNorm<double>(4, elementwiseAffine: false, bias: true).StateDict(), Is.Empty, "no affine, no bias either (PyTorch)");
    }
}
