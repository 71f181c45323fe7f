using Autograd;
using Autograd.Testing;
using static Autograd.Tests.Ops.ElementwiseTests;

namespace Autograd.Tests.Ops;

/// <summary>Lerp: gradients in all three arguments over broadcast shapes and views, values as torch.lerp, errors.</summary>
[Category("GradProperty")]
public class LerpTests
{
    [Test]
    public void Lerp_GradientMatchesFiniteDifferences()
    {
        CheckBinary((a, b) => a.Lerp(b, 0.3));
        CheckBinary((a, b) => a.Lerp(b, b.Sigmoid()));
        CheckBinary((a, b) => b.Lerp(a * 2.0, a));
    }

    [Test]
    public void Lerp_SecondOrderMatchesFiniteDifferences() => SecondOrderTests.SecondOrder(Lerp_GradientMatchesFiniteDifferences);

    [Test]
    public void Lerp_MatchesPyTorch()
    {
        // torch.lerp(torch.tensor([1., 2.]), torch.tensor([3., 6.]), 0.25) → [1.5, 3.0]
        var start = Tensor.FromArray(new[] { 1.0, 2 });
        var end = Tensor.FromArray(new[] { 3.0, 6 });
        Assert.That(start.Lerp(end, 0.25).ToArray(), Is.EqualTo(new[] { 1.5, 3.0 }));
        Assert.That(start.Lerp(end, Tensor.FromArray(new[] { 0.0, 1 })).ToArray(), Is.EqualTo(new[] { 1.0, 6 }));
    }

    [Test]
    public void Lerp_RejectsShapesThatDoNotBroadcast()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<double>(2, 3).Lerp(Tensor.Zeros<double>(4), 0.5))!;
        Assert.That(ex.Message, Does.Contain("Lerp").And.Contain("[2, 3]").And.Contain("[4]"));
    }
}
