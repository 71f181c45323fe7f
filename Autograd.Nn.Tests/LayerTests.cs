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
        Assert.That(Functional.Dropout(x, 1.0).ToArray(), Is.All.EqualTo(0.0));
        Assert.Throws<ArgumentException>(() => new Dropout<float>(1.5));
    }

    [Test]
    public void Dropout_SameSeed_SameMask()
    {
        var x = Tensor.Ones<float>(100);
        var a = Functional.Dropout(x, 0.5, true, new Generator(5)).ToArray();
        var b = Functional.Dropout(x, 0.5, true, new Generator(5)).ToArray();
        var c = Functional.Dropout(x, 0.5, true, new Generator(6)).ToArray();
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
