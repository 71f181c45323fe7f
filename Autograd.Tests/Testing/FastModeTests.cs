using System.Diagnostics;
using Autograd;
using Autograd.Testing;
using static Autograd.Tests.Testing.TestFunctions;

namespace Autograd.Tests.Testing;

/// <summary>Random projections vᵀJu: two evaluations and one backward pass each, whatever the sizes.</summary>
public class FastModeTests
{
    private static readonly GradCheckOptions s_fast = new() { FastMode = true };

    [Test]
    public void RightVjp_Passes_OnALargeInput_Quickly()
    {
        // 64·48 + 48·40 inputs and 64·40 outputs: the full Jacobian would take 2560 backward passes and
        // 2·4992 forward ones; four projections take four and eight (plus the VJP checks).
        var g = new Generator(21);
        var x = Tensor.Randn<double>([64, 48], g, requiresGrad: true);
        var w = Tensor.Randn<double>([48, 40], g, requiresGrad: true);
        var clock = Stopwatch.StartNew();

        var r = GradCheck.Check(xs => new MyMatMul().Apply(xs[0], xs[1]).Tanh(), [x, w], s_fast);

        Assert.That(r.Passed, Is.True, r.Message);
        Assert.That(r.FastMode, Is.True);
        Assert.That(r.EntriesChecked, Is.EqualTo(4));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
    }

    [Test]
    public void WrongVjp_IsCaught()
    {
        var g = new Generator(22);
        var x = Tensor.Randn<double>([32, 24], g, requiresGrad: true);
        var w = Tensor.Randn<double>([24, 24], g, requiresGrad: true);

        var r = GradCheck.Check(xs => new MyMatMul(forgetTranspose: true).Apply(xs[0], xs[1]), [x, w], s_fast);

        Assert.That(r.Passed, Is.False);
        Assert.That(r.Failures, Is.EqualTo(4), "every projection sees it");
        Assert.That(r.Worst!.Projection, Is.Not.Null);
        Assert.That(r.Message, Does.Contain("projections vᵀJu").And.Contain("projection"));
    }

    [Test]
    public void OneWrongEntry_IsCaughtByEveryProjection()
    {
        // A VJP wrong in a single element out of 400: a random projection still weights it by O(1).
        var x = Tensor.Randn<double>([20, 20], new Generator(23), requiresGrad: true);
        Tensor<double> F(Tensor<double> t) => Function.Apply("AlmostScale", [t], xs =>
        {
            var shape = xs[0].Shape;
            var y = Tensor.FromArray(xs[0].ToArray().Select(a => 3 * a).ToArray(), shape);
            return (y, (g, grads) =>
            {
                var d = g.ToArray().Select(v => 3 * v).ToArray();
                d[137] *= 1.5;
                grads[0] = Tensor.FromArray(d, shape);
            });
        });

        var r = GradCheck.Check(xs => F(xs[0]), [x], s_fast with { Projections = 8 });
        Assert.That(r.Passed, Is.False);
        Assert.That(r.Failures, Is.GreaterThanOrEqualTo(7));
    }

    [Test]
    public void Kink_AlongTheDirection_IsReported()
    {
        // Every element at ReLU's kink: along any direction the one-sided derivatives differ.
        var x = Tensor.FromArray(new double[4], [4], requiresGrad: true);
        var r = GradCheck.Check(xs => MyRelu(xs[0]), [x], s_fast);
        Assert.That(r.Passed, Is.True, r.Message);
        Assert.That(r.NotDifferentiable, Has.Count.EqualTo(4));
        Assert.That(r.NotDifferentiable.All(k => k.Projection is not null), Is.True);
    }

    [Test]
    public void SameSeed_SameVerdict_OtherSeed_OtherDirections()
    {
        var x = Tensor.Randn<double>([3, 3], new Generator(24), requiresGrad: true);
        var w = Tensor.Randn<double>([3, 3], new Generator(25), requiresGrad: true);
        GradCheckResult Run(ulong seed) => GradCheck.Check(xs => new MyMatMul(forgetTranspose: true).Apply(xs[0], xs[1]), [x, w], s_fast with { Seed = seed });

        Assert.That(Run(1).Worst!.Analytic, Is.EqualTo(Run(1).Worst!.Analytic));
        Assert.That(Run(1).Worst!.Analytic, Is.Not.EqualTo(Run(2).Worst!.Analytic));
    }
}
