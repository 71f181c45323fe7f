using Autograd.Nn;

namespace Autograd.Nn.Tests;

public class LayerTests
{
    [Test]
    public void Linear_ComputesXTimesWeightTransposedPlusBias()
    {
        var layer = new Linear<double>(2, 3);
        using (Tensor.NoGrad())
        {
            layer.Weight.CopyFrom(Tensor.FromArray(new[] { 1.0, 2, 3, 4, 5, 6 }, [3, 2]));
            layer.Bias!.CopyFrom(Tensor.FromArray(new[] { 0.5, -0.5, 1 }));
        }

        var y = layer.Forward(Tensor.FromArray(new[] { 1.0, -1 }, [1, 2]));
        // W = [[1, 2], [3, 4], [5, 6]]: x·Wᵀ = [1 − 2, 3 − 4, 5 − 6] = [−1, −1, −1], plus b.
        Assert.That(y.ToArray(), Is.EqualTo(new[] { -0.5, -1.5, 0 }));
        Assert.That(layer.Weight.Shape, Is.EqualTo(new[] { 3, 2 }), "weight is [out, in] as in PyTorch");
    }

    [Test]
    public void Linear_RejectsAWrongInputWidth_NamingTheShapes()
    {
        var layer = new Linear<float>(4, 2);
        var ex = Assert.Throws<ArgumentException>(() => layer.Forward(Tensor.Zeros<float>(3, 5)));
        Assert.That(ex!.Message, Does.Contain("in_features = 4").And.Contain("[3, 5]"));
    }

    [Test]
    public void Dropout_ZeroesAboutP_ScalesTheRest_AndIsTheIdentityInEval()
    {
        var dropout = new Dropout<double>(0.25, new Generator(3));
        var x = Tensor.Ones<double>(10_000);
        var y = dropout.Forward(x).ToArray();
        var zeros = y.Count(v => v == 0);
        Assert.That(zeros / 10_000.0, Is.EqualTo(0.25).Within(0.02));
        Assert.That(y.Where(v => v != 0), Is.All.EqualTo(1 / 0.75).Within(1e-12));
        dropout.Eval();
        Assert.That(dropout.Forward(x), Is.SameAs(x));
        Assert.That(new Dropout<double>(1.0).Forward(x).ToArray(), Is.All.EqualTo(0.0));
        Assert.Throws<ArgumentException>(() => new Dropout<float>(1.5));
    }

    [Test]
    public void Dropout_SameSeed_SameMask()
    {
        var x = Tensor.Ones<float>(100);
        var a = new Dropout<float>(0.5, new Generator(5)).Forward(x).ToArray();
        var b = new Dropout<float>(0.5, new Generator(5)).Forward(x).ToArray();
        var c = new Dropout<float>(0.5, new Generator(6)).Forward(x).ToArray();
        Assert.That(a, Is.EqualTo(b));
        Assert.That(a, Is.Not.EqualTo(c));
    }

    [Test]
    public void Sequential_NamesLayersByPositionOrByName_AndIndexes()
    {
        var empty = new Sequential<float>();
        empty.Append(new Linear<float>(2, 2)).Append("act", new ReLU<float>());
        Assert.That(empty.NamedChildren().Select(c => c.Name), Is.EqualTo(new[] { "0", "act" }));
        var named = new Sequential<float>(("fc", new Linear<float>(2, 3)), ("out", new Linear<float>(3, 1)));
        Assert.That(named.NamedParameters().Select(p => p.Name), Is.EqualTo(new[] { "fc.weight", "fc.bias", "out.weight", "out.bias" }));
        Assert.That(named[-1], Is.InstanceOf<Linear<float>>());
        Assert.That(named.Forward(Tensor.Zeros<float>(4, 2)).Shape, Is.EqualTo(new[] { 4, 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = named[2]);
        Assert.Throws<ArgumentException>(() => named.Append("fc", new ReLU<float>()));
    }

    [Test]
    public void BatchNorm2d_UpdatesRunningStatisticsInTraining_AndUsesThemInEval()
    {
        var bn = new BatchNorm2d<double>(1, momentum: 0.5);
        Assert.That(bn.NamedParameters().Select(p => p.Name), Is.EqualTo(new[] { "weight", "bias" }));
        Assert.That(bn.StateDict().Keys, Is.EqualTo(new[] { "weight", "bias", "running_mean", "running_var", "num_batches_tracked" }));
        var x = Tensor.FromArray(new[] { 1.0, 2, 3, 6 }, [4, 1, 1, 1]);
        var y = bn.Forward(x).ToArray();
        // Batch mean 3, biased variance 3.5: y = (x − 3)/√(3.5 + 1e-5).
        Assert.That(y, Is.EqualTo(new[] { -2.0, -1, 0, 3 }.Select(v => v / Math.Sqrt(3.5 + 1e-5))).Within(1e-12));
        // running ← ½·running + ½·batch, with the unbiased variance 14/3 for running_var.
        Assert.That(bn.RunningMean!.ToArray(), Is.EqualTo(new[] { 1.5 }).Within(1e-12));
        Assert.That(bn.RunningVar!.ToArray(), Is.EqualTo(new[] { 0.5 + 0.5 * 14 / 3.0 }).Within(1e-12));
        bn.Eval();
        var e = bn.Forward(Tensor.FromArray(new[] { 1.5 }, [1, 1, 1, 1])).ToArray();
        Assert.That(e, Is.EqualTo(new[] { 0.0 }).Within(1e-12));
        Assert.That(bn.ToString(), Is.EqualTo("BatchNorm2d(1, eps=1e-05, momentum=0.5, affine=True, track_running_stats=True)"));
    }

    [Test]
    public void LayerNorm_NormalisesTheLastDimensions()
    {
        var ln = new LayerNorm<double>(4);
        var y = ln.Forward(Tensor.FromArray(new[] { 1.0, 2, 3, 4, 10, 10, 10, 10 }, [2, 4])).ToArray();
        var s = Math.Sqrt(1.25 + 1e-5);
        Assert.That(y, Is.EqualTo(new[] { -1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s, 0, 0, 0, 0 }).Within(1e-12));
        Assert.That(ln.Weight!.Shape, Is.EqualTo(new[] { 4 }));
        Assert.That(ln.ToString(), Is.EqualTo("LayerNorm((4,), eps=1e-05, elementwise_affine=True)"));
    }

    [Test]
    public void Conv2d_And_MaxPool2d_GiveLeNetShapes()
    {
        var g = new Generator(0);
        var x = Tensor.Zeros<float>(2, 1, 28, 28);
        var h = new Conv2d<float>(1, 6, 5, padding: 2, generator: g).Forward(x);
        Assert.That(h.Shape, Is.EqualTo(new[] { 2, 6, 28, 28 }));
        Assert.That(new MaxPool2d<float>(2).Forward(h).Shape, Is.EqualTo(new[] { 2, 6, 14, 14 }));
        Assert.Throws<ArgumentException>(() => new Conv2d<float>(3, 4, 3, groups: 2));
    }
}
