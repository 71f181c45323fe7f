using Autograd;
using Autograd.Testing;
using static Autograd.Tests.Testing.TestFunctions;

namespace Autograd.Tests.Testing;

/// <summary>Each VJP property GradCheck verifies, caught on a custom op built to break exactly that one.</summary>
public class VjpCheckTests
{
    private static Tensor<double> X() => Tensor.FromArray(new double[] { 0.5, -1.5, 2.0, 0.25 }, [2, 2], requiresGrad: true);

    private static VjpChecks[] Failed(GradCheckResult r) => r.VjpFailures.Select(f => f.Check).ToArray();

    [Test]
    public void RightOp_PassesEveryCheck()
    {
        var r = GradCheck.Check(xs => Scale(xs[0]), [X()]);
        Assert.That(r.Passed, Is.True, r.Message);
        Assert.That(r.VjpFailures, Is.Empty);
    }

    [Test]
    public void AffineVjp_FailsZeroCotangentAndLinearity()
    {
        var r = GradCheck.Check(xs => Scale(xs[0], ScaleBug.Affine), [X()]);
        Assert.That(r.Passed, Is.False);
        Assert.That(Failed(r), Is.SupersetOf(new[] { VjpChecks.ZeroCotangent, VjpChecks.Linearity }));
        Assert.That(r.Message, Does.Contain("a zero cotangent gave a non-zero gradient"));
    }

    [Test]
    public void QuadraticVjp_PassesTheJacobianButFailsLinearity()
    {
        var r = GradCheck.Check(xs => Scale(xs[0], ScaleBug.Quadratic), [X()]);

        // One-hot cotangents cannot tell 3·g·|g| from 3·g: only the linearity check sees it.
        Assert.That(r.Failures, Is.Zero, "every Jacobian entry matches");
        Assert.That(r.Passed, Is.False);
        Assert.That(Failed(r), Is.EqualTo(new[] { VjpChecks.Linearity }));
        Assert.That(r.Message, Does.Contain("not linear in the cotangent"));
    }

    [Test]
    public void NonReentrantVjp_FailsReentrancy()
    {
        var r = GradCheck.Check(xs => Scale(xs[0], ScaleBug.NotReentrant), [X()]);
        Assert.That(r.Passed, Is.False);
        Assert.That(Failed(r), Does.Contain(VjpChecks.Reentrancy));
        Assert.That(r.Message, Does.Contain("not reentrant"));
    }

    [Test]
    public void WrongShapeGradient_FailsGradShapes_InsteadOfThrowing()
    {
        var r = GradCheck.Check(xs => Scale(xs[0], ScaleBug.WrongShape), [X()]);
        Assert.That(r.Passed, Is.False);
        Assert.That(Failed(r), Is.EqualTo(new[] { VjpChecks.GradShapes }));
        Assert.That(r.Message, Does.Contain("backward could not run").And.Contain("[3]").And.Contain("[2, 2]"));
    }

    [Test]
    public void WrongShapeGradient_WithGradShapesOff_Throws()
    {
        var options = new GradCheckOptions { Checks = VjpChecks.All & ~VjpChecks.GradShapes };
        Assert.Throws<GradientShapeException>(() => GradCheck.Check(xs => Scale(xs[0], ScaleBug.WrongShape), [X()], options));
    }

    [Test]
    public void ChecksOff_LeaveTheQuadraticVjpUndetected()
    {
        // The flags really switch the checks: with none, the full Jacobian alone passes the broken op.
        var r = GradCheck.Check(xs => Scale(xs[0], ScaleBug.Quadratic), [X()], new GradCheckOptions { Checks = VjpChecks.None });
        Assert.That(r.Passed, Is.True, r.Message);
    }

    [Test]
    public void VjpReadingTheCotangentAsContiguous_FailsCotangentViews()
    {
        var r = GradCheck.Check(xs => Scale(xs[0], ScaleBug.ReadsCotangentAsContiguous), [X()]);
        Assert.That(r.Passed, Is.False);
        Assert.That(Failed(r), Does.Contain(VjpChecks.CotangentViews));
        Assert.That(r.Message, Does.Contain("depends on how the cotangent is laid out"));

        // The Jacobian rows arrive in every layout too, so the Jacobian itself is wrong.
        Assert.That(r.Failures, Is.GreaterThan(0));
    }

    [Test]
    public void VjpReadingTheCotangentAsContiguous_PassesWithContiguousCotangentsOnly()
    {
        // The blind spot the check closes: fed fresh contiguous cotangents only, the bug is invisible.
        var options = new GradCheckOptions { Checks = VjpChecks.All & ~VjpChecks.CotangentViews };
        var r = GradCheck.Check(xs => Scale(xs[0], ScaleBug.ReadsCotangentAsContiguous), [X()], options);
        Assert.That(r.Passed, Is.True, r.Message);
    }

    [Test]
    public void VjpClearingTheCotangent_FailsCallerTensorsUnchanged()
    {
        var r = GradCheck.Check(xs => Scale(xs[0], ScaleBug.ClearsCotangent), [X()]);
        Assert.That(r.Passed, Is.False);
        Assert.That(Failed(r), Is.EqualTo(new[] { VjpChecks.CallerTensorsUnchanged }));
        Assert.That(r.Message, Does.Contain("backward wrote into the gradOutput passed to it"));
        var off = new GradCheckOptions { Checks = VjpChecks.All & ~VjpChecks.CallerTensorsUnchanged };
        Assert.That(GradCheck.Check(xs => Scale(xs[0], ScaleBug.ClearsCotangent), [X()], off).Passed, Is.True);
    }

    [Test]
    public void VjpWritingIntoItsInput_FailsCallerTensorsUnchanged()
    {
        var r = GradCheck.Check(xs => Scale(xs[0], ScaleBug.WritesIntoInput), [X()]);
        Assert.That(r.Passed, Is.False);
        Assert.That(Failed(r), Does.Contain(VjpChecks.CallerTensorsUnchanged));
        Assert.That(r.Message, Does.Contain("backward wrote into input 0"));
    }

    [Test]
    public void BuiltInOps_PassEveryCheck_OnViews()
    {
        var g = new Generator(11);
        var a = Tensor.Randn<double>([3, 2], g, requiresGrad: true);
        var b = Tensor.Randn<double>([1, 3], g, requiresGrad: true);
        var r = GradCheck.Check(xs => xs[0].Transpose(0, 1).MatMul(xs[1].Expand(3, 3)).Tanh().Sum(1), [a, b]);
        Assert.That(r.Passed, Is.True, r.Message);
    }

    [Test]
    public void TheCheck_LeavesTheInputsGradAsItFoundIt()
    {
        var x = X();
        var before = Tensor.FromArray(new double[] { 9, 9, 9, 9 }, [2, 2]);
        x.Grad = before;
        GradCheck.Check(xs => Scale(xs[0], ScaleBug.Affine), [x]);
        Assert.That(x.Grad, Is.SameAs(before));
    }
}
