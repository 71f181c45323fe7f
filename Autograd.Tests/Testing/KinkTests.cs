using Autograd;
using Autograd.Testing;
using FsCheck.Fluent;
using static Autograd.Tests.Testing.TestFunctions;

namespace Autograd.Tests.Testing;

/// <summary>Where f is not differentiable, GradCheck says so instead of failing (unless asked to fail).</summary>
public class KinkTests
{
    [Test]
    public void ReluLikeFunction_AtItsKink_IsReportedNotFailed()
    {
        // Element 1 sits exactly on the kink: left derivative 0, right derivative 1, central 0.5.
        var x = Tensor.FromArray(new double[] { -0.5, 0.0, 0.75 }, [3], requiresGrad: true);

        var r = GradCheck.Check(xs => MyRelu(xs[0]), [x]);

        Assert.That(r.Passed, Is.True, r.Message);
        Assert.That(r.NotDifferentiable, Has.Count.EqualTo(1));
        var kink = r.NotDifferentiable[0];
        Assert.That(kink.Input, Is.EqualTo(0));
        Assert.That(kink.InputIndex, Is.EqualTo(new[] { 1 }));
        Assert.That(kink.OutputIndex, Is.EqualTo(new[] { 1 }));
        Assert.That(kink.Left, Is.EqualTo(0).Within(1e-9));
        Assert.That(kink.Right, Is.EqualTo(1).Within(1e-9));
        Assert.That(kink.Analytic, Is.EqualTo(0), "the op's subgradient at 0");
        Assert.That(r.Message, Does.Contain("not differentiable here").And.Contain("input 0 at [1]"));

        // The other 8 entries are still compared.
        Assert.That(r.EntriesChecked, Is.EqualTo(8));
    }

    [Test]
    public void Kink_FailsWhenThePolicySaysFail()
    {
        var x = Tensor.FromArray(new double[] { -0.5, 0.0, 0.75 }, [3], requiresGrad: true);
        var r = GradCheck.Check(xs => MyRelu(xs[0]), [x], new GradCheckOptions { NonDifferentiable = NonDifferentiablePolicy.Fail });
        Assert.That(r.Passed, Is.False);
        Assert.That(r.Failures, Is.EqualTo(1));
        Assert.That(r.Message, Does.Contain("not differentiable at 1 element (NonDifferentiable = Fail)"));
    }

    [Test]
    public void Kink_IsAnOrdinaryMismatchWhenIgnored()
    {
        // PyTorch's behaviour: the central difference 0.5 against the analytic 0.
        var x = Tensor.FromArray(new double[] { -0.5, 0.0, 0.75 }, [3], requiresGrad: true);
        var r = GradCheck.Check(xs => MyRelu(xs[0]), [x], new GradCheckOptions { NonDifferentiable = NonDifferentiablePolicy.Ignore });
        Assert.That(r.Passed, Is.False);
        Assert.That(r.NotDifferentiable, Is.Empty);
        Assert.That(r.Worst!.Numeric, Is.EqualTo(0.5).Within(1e-6));
    }

    [Test]
    public void TieInAMax_IsAKink()
    {
        // A one-window max-pool with two equal maxima: moving either one up changes the output, moving it
        // down does not.
        var x = Tensor.FromArray(new double[] { 0.3, 0.9, 0.9 }, [3], requiresGrad: true);
        var r = GradCheck.Check(xs => MyMax(xs[0]), [x]);
        Assert.That(r.Passed, Is.True, r.Message);
        Assert.That(r.NotDifferentiable.Select(k => k.InputIndex[0]), Is.EquivalentTo(new[] { 1, 2 }));
    }

    [Test]
    public void StrongCurvature_IsNotMistakenForAKink()
    {
        // f = 1000·x² at 0: the one-sided differences are ∓1000·ε apart (2e-3, beyond atol), but the gap
        // shrinks with the step, so it is curvature and the entry is compared (and passes).
        var x = Tensor.FromArray(new double[] { 0.0, 0.001 }, [2], requiresGrad: true);
        var r = GradCheck.Check(xs => xs[0] * xs[0] * 1000.0, [x]);
        Assert.That(r.NotDifferentiable, Is.Empty);
        Assert.That(r.Passed, Is.True, r.Message);
    }

    [Test]
    public void KinkWithinTheStep_ButNotAtTheSample_IsComparedWithAFinerStep()
    {
        // x = 2e-7: the central difference over ±1e-6 straddles ReLU's kink (0.6, where PyTorch's gradcheck
        // fails), but f is differentiable at x. At a quarter of the step the one-sided differences still
        // disagree, at a sixteenth they agree: the finer central difference (1) is compared, and matches.
        var x = Tensor.FromArray(new double[] { 2e-7 }, [1], requiresGrad: true);
        var r = GradCheck.Check(xs => MyRelu(xs[0]), [x]);
        Assert.That(r.NotDifferentiable, Is.Empty);
        Assert.That(r.Passed, Is.True, r.Message);
        Assert.That(r.Worst!.Numeric, Is.EqualTo(1).Within(1e-6));
    }

    [Test]
    public void KinkCloserThanAQuarterStep_IsReported()
    {
        var x = Tensor.FromArray(new double[] { 3e-8 }, [1], requiresGrad: true);
        var r = GradCheck.Check(xs => MyRelu(xs[0]), [x]);
        Assert.That(r.NotDifferentiable, Has.Count.EqualTo(1));
        Assert.That(r.Passed, Is.True, r.Message);
    }

    [Test]
    public void Property_DiscardsSamplesAtAKink_UnlessThePolicySaysFail()
    {
        // Values rounded to integers: about half the elements sit exactly on ReLU's kink.
        var integers = Arb.From(Arbitraries.Tensor(minRank: 1, maxRank: 2, maxDim: 2).Generator.Select(c => c with { Decimals = 0 }));

        Assert.DoesNotThrow(() => GradProperty.Check(integers, x => MyRelu(x), maxTest: 30));

        var e = Assert.Throws<GradPropertyException>(() => GradProperty.Check(
            integers, x => MyRelu(x), new GradCheckOptions { NonDifferentiable = NonDifferentiablePolicy.Fail }, maxTest: 30));
        Assert.That(e!.Failure!.Result!.NotDifferentiable, Is.Not.Empty);
    }

    [Test]
    public void Property_WhereEverySampleIsAKink_GivesUpInsteadOfPassing()
    {
        // Values in [-0.4, 0.4) rounded to integers are all 0: every sample is discarded, and a property
        // that never checked anything must not pass.
        var zeros = Arb.From(Arbitraries.Tensor([2], lo: -0.4, hi: 0.4).Generator.Select(c => c with { Decimals = 0 }));
        var e = Assert.Throws<GradPropertyException>(() => GradProperty.Check(zeros, x => MyRelu(x), maxTest: 10));
        Assert.That(e!.Failure, Is.Null);
        Assert.That(e.Message, Does.Contain("gave up").And.Contain("discarded"));
    }
}
