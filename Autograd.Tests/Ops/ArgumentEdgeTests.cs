using Autograd;
using Autograd.Testing;

namespace Autograd.Tests.Ops;

/// <summary>Arguments at the edges of int arithmetic and aliasing get named errors, not wrapped numbers.</summary>
public class ArgumentEdgeTests
{
    [Test]
    public void HugeDilation_IsReportedAsTooSmallAnOutput_WithoutWrappedNumbers()
    {
        var x = Tensor.Zeros<double>(1, 1, 5, 5);
        var w = Tensor.Zeros<double>(1, 1, 3, 3);
        var ex = Assert.Throws<ArgumentException>(() => x.Conv2d(w, dilation: 1 << 30));
        Assert.That(ex!.Message, Does.StartWith("Conv2d: output size (0, 0)").And.Contain("2147483649").And.Not.Contain("(-"));
        ex = Assert.Throws<ArgumentException>(() => x.MaxPool2d(3, dilation: 1 << 30));
        Assert.That(ex!.Message, Does.StartWith("MaxPool2d: ").And.Not.Contain("(-"));
    }

    [Test]
    public void GradCheck_RejectsInputsThatShareStorage()
    {
        var x = Tensor.FromArray(new[] { 1.0, 2.0 }, [2], requiresGrad: true);
        var ex = Assert.Throws<ArgumentException>(() => GradCheck.Check(xs => xs[0].Mul(xs[1]), [x, x]));
        Assert.That(ex!.Message, Does.Contain("inputs 0 and 1 share storage"));
        Assert.Throws<ArgumentException>(() => GradCheck.Check(xs => xs[0].Mul(xs[1]), [x, x.Detach()]));
        Assert.That(GradCheck.Check(xs => xs[0].Mul(xs[0]), [x]).Passed, Is.True);
    }
}
