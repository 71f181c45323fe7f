using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Ops;

[Category("GradProperty")]
public class ActivationAndLossTests
{
    [Test]
    public void Relu_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec().Int("rank", 0, 3).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4).Views(1),
            c =>
            {
                var (x, vx) = Inputs.Make(TestData.Suffix([c["d0"], c["d1"], c["d2"]], c["rank"], 0), c.View(0), c.Generator());
                TestData.AwayFromZero(x);
                return GradCheck.Check(t => vx(t[0]).Relu(), [x]);
            });

    [Test]
    public void LogSoftmax_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec().Int("rank", 1, 3).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4).Int("dim", 0, 2).Views(1)
                .Where(c => c["dim"] < c["rank"]),
            c =>
            {
                var (x, vx) = Inputs.Make(TestData.Suffix([c["d0"], c["d1"], c["d2"]], c["rank"], 0), c.View(0), c.Generator(), -3, 3);
                return GradCheck.Check(t => vx(t[0]).LogSoftmax(c["dim"]), [x]);
            });

    [Test]
    public void Relu_MaskIsXGreaterThanZero()
    {
        var x = Tensor.FromArray(new[] { -2f, 0f, 3f, -0f, 1e-30f }, [5], requiresGrad: true);
        var y = x.Relu();
        Assert.That(y.ToArray(), Is.EqualTo(new[] { 0f, 0f, 3f, 0f, 1e-30f }));
        y.Backward(Tensor.FromArray(new[] { 1f, 2f, 3f, 4f, 5f }, [5]));
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 0f, 0f, 3f, 0f, 5f }));
    }

    [Test]
    public void CrossEntropy_IsStableForHugeLogitsAndMatchesHandComputation()
    {
        var logits = Tensor.FromArray(new[] { 1000.0, 0.0, -1000.0, 1.0, 2.0, 3.0 }, [2, 3], requiresGrad: true);
        var loss = logits.CrossEntropy([0, 2]);
        var expected = (0.0 + (3.0 - Math.Log(Math.Exp(1) + Math.Exp(2) + Math.Exp(3)) - 0.0) * -1) / 2;
        Assert.That(loss.Item(), Is.EqualTo(expected).Within(1e-12));
        loss.Backward();
        var grad = logits.Grad!.ToArray();
        Assert.That(grad.All(double.IsFinite));
        var z = Math.Exp(1) + Math.Exp(2) + Math.Exp(3);
        Assert.That(grad, Is.EqualTo(new[] { 0.0, 0.0, 0.0, Math.Exp(1) / z / 2, Math.Exp(2) / z / 2, (Math.Exp(3) / z - 1) / 2 }).Within(1e-12));
        Assert.That(logits.LogSoftmax(1).Exp().Sum(1).ToArray(), Is.EqualTo(new[] { 1.0, 1.0 }).Within(1e-12));
    }

    [Test]
    public void LossArguments_AreChecked()
    {
        var logits = Tensor.Zeros<float>(2, 3);
        var ex = Assert.Throws<ArgumentException>(() => logits.CrossEntropy([0, 3]));
        Assert.That(ex!.Message, Does.Contain("CrossEntropy").And.Contain("target 3").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => logits.CrossEntropy([0]));
        Assert.That(ex!.Message, Does.Contain("CrossEntropy").And.Contain("1 targets").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<float>(3).NllLoss([0, 1, 2]));
        Assert.That(ex!.Message, Does.Contain("NllLoss").And.Contain("[3]"));
        ex = Assert.Throws<ArgumentException>(() => logits.LogSoftmax(2));
        Assert.That(ex!.Message, Does.Contain("LogSoftmax").And.Contain("2"));
        Assert.Throws<ArgumentException>(() => logits.CrossEntropy([-1, 0]));
    }
}
