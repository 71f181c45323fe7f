using Autograd.Nn;
using Autograd.Testing;

namespace Autograd.Nn.Tests;

/// <summary>
/// Each layer's gradients with respect to its parameters and its input, checked by GradCheck against
/// finite differences on tiny inputs. The parameters are the module's own tensors, passed as the
/// checked leaves, so the check perturbs exactly what an optimiser would update.
/// </summary>
public class LayerGradientTests
{
    private static Tensor<double> Input(int[] shape, ulong seed) =>
        Tensor.Randn<double>(shape, new Generator(seed), requiresGrad: true);

    private static void AssertPasses(Module<double> module, Tensor<double> x)
    {
        Tensor<double>[] inputs = [x, .. module.Parameters()];
        var result = GradCheck.Check(ts => module.Forward(ts[0]), inputs);
        Assert.That(result.Passed, Is.True, result.ToString());
    }

    [Test]
    public void Linear_ParameterGradients_MatchFiniteDifferences()
    {
        var layer = new Linear<double>(3, 2, generator: new Generator(1));
        Assert.That(layer.Parameters().Count(), Is.EqualTo(2));
        AssertPasses(layer, Input([4, 3], 2));
    }

    [Test]
    public void Linear_WithoutBias_OverA3dInput_MatchesFiniteDifferences()
    {
        var layer = new Linear<double>(3, 2, bias: false, generator: new Generator(1));
        Assert.That(layer.Bias, Is.Null);
        AssertPasses(layer, Input([2, 2, 3], 3));
    }

    [Test]
    public void Conv2d_ParameterGradients_MatchFiniteDifferences()
    {
        var layer = new Conv2d<double>(2, 3, 3, stride: 2, padding: 1, generator: new Generator(4));
        AssertPasses(layer, Input([1, 2, 5, 5], 5));
    }

    [Test]
    public void Conv2d_Grouped_ParameterGradients_MatchFiniteDifferences()
    {
        var layer = new Conv2d<double>(4, 2, (2, 3), groups: 2, generator: new Generator(6));
        Assert.That(layer.Weight.Shape, Is.EqualTo(new[] { 2, 2, 2, 3 }));
        AssertPasses(layer, Input([2, 4, 3, 4], 7));
    }

    [Test]
    public void MaxPool2d_ReLU_Flatten_InputGradients_MatchFiniteDifferences()
    {
        // Parameter-free layers: the input gradient is what flows to earlier parameters.
        AssertPasses(new MaxPool2d<double>(2), Input([1, 2, 4, 4], 8));
        AssertPasses(new ReLU<double>(), Input([3, 4], 9));
        AssertPasses(new Flatten<double>(), Input([2, 2, 3], 10));
        AssertPasses(new Tanh<double>(), Input([3, 2], 11));
        AssertPasses(new Sigmoid<double>(), Input([3, 2], 12));
    }

    [Test]
    public void Dropout_WithAFixedMask_MatchesFiniteDifferences()
    {
        // A fresh module with a fresh generator per evaluation: the same mask every time f runs.
        var x = Input([4, 5], 13);
        var result = GradCheck.Check(ts => new Dropout<double>(0.4, new Generator(99)).Forward(ts[0]), [x]);
        Assert.That(result.Passed, Is.True, result.ToString());
    }

    [Test]
    public void BatchNorm2d_TrainingAndEval_ParameterGradients_MatchFiniteDifferences()
    {
        var bn = new BatchNorm2d<double>(3);
        using (Tensor.NoGrad())
        {
            bn.Weight!.CopyFrom(Tensor.FromArray(new[] { 0.5, 1.5, -1.0 }));
            bn.Bias!.CopyFrom(Tensor.FromArray(new[] { 0.1, -0.2, 0.3 }));
        }

        AssertPasses(bn, Input([2, 3, 2, 2], 16));
        bn.Eval();
        AssertPasses(bn, Input([2, 3, 2, 2], 17));
    }

    [Test]
    public void LayerNorm_ParameterGradients_MatchFiniteDifferences()
    {
        var ln = new LayerNorm<double>([2, 3]);
        using (Tensor.NoGrad())
        {
            ln.Weight!.CopyFrom(Tensor.Randn<double>([2, 3], new Generator(18)));
        }

        AssertPasses(ln, Input([2, 2, 3], 19));
    }

    [Test]
    public void AvgPool2d_And_AdaptiveAvgPool2d_InputGradients_MatchFiniteDifferences()
    {
        AssertPasses(new AvgPool2d<double>(2, stride: 1, padding: 1), Input([1, 2, 3, 3], 20));
        AssertPasses(new AdaptiveAvgPool2d<double>((2, 3)), Input([1, 2, 5, 4], 21));
    }

    [Test]
    public void Sequential_SmallCnn_AllParameterGradients_MatchFiniteDifferences()
    {
        var g = new Generator(14);
        var model = new Sequential<double>(
            new Conv2d<double>(1, 2, 3, padding: 1, generator: g),
            new ReLU<double>(),
            new MaxPool2d<double>(2),
            new Flatten<double>(),
            new Linear<double>(8, 3, generator: g));
        Assert.That(model.NamedParameters().Select(p => p.Name), Is.EqualTo(new[] { "0.weight", "0.bias", "4.weight", "4.bias" }));
        Tensor<double>[] inputs = [Input([2, 1, 4, 4], 15), .. model.Parameters()];
        var result = GradCheck.Check(ts => model.Forward(ts[0]).CrossEntropy([2, 0]), inputs);
        Assert.That(result.Passed, Is.True, result.ToString());
    }
}

/// <summary><c>GradCheck.Check(module, input)</c>: the module-level check over every parameter of a model.</summary>
public class ModuleGradCheckTests
{
    [Test]
    public void ModuleCheck_CoversEveryParameterOfANestedModel()
    {
        var gen = new Generator(7);
        var model = new Sequential<double>(
            new Conv2d<double>(1, 2, 3, padding: 1, generator: gen), new Tanh<double>(), new Flatten<double>(),
            new Linear<double>(2 * 4 * 4, 3, generator: gen));
        var x = Tensor.Randn<double>([2, 1, 4, 4], gen);
        var result = GradCheck.Check(model, x);
        Assert.That(result.Passed, Is.True, result.ToString());
        Assert.That(result.Inputs.Count, Is.EqualTo(model.Parameters().Count()), "one checked input per parameter");
        Assert.That(x.Grad, Is.Null, "the input is held constant");
    }

    [Test]
    public void ModuleCheck_CatchesAModuleWithAWrongGradient()
    {
        // A layer whose custom op returns g·w instead of g·2w for d(w²)/dw: the module check must fail.
        var result = GradCheck.Check(new Squares(), Tensor.Ones<double>(3));
        Assert.That(result.Passed, Is.False);
        Assert.That(result.ToString(), Does.Contain("analytic"));
    }

    private sealed class Squares : Module<double>
    {
        private readonly Tensor<double> _w;

        public Squares() => _w = RegisterParameter("w", Tensor.FromArray(new double[] { 0.5, -1.5, 2.0 }, [3], requiresGrad: true))!;

        protected override Tensor<double> ForwardCore(Tensor<double> input) =>
            input * Function.Apply("BadSquare", [_w], ws => (ws[0] * ws[0], (g, grads) => grads[0] = g * ws[0]));
    }
}
