using Autograd;
using Autograd.Testing;

namespace Autograd.Tests.Testing;

/// <summary>
/// Where f is large, rounding in f's own values puts noise of about ulp(|f|)/ε on every central difference;
/// GradCheck's tolerance includes it, so a right gradient passes and a wrong one still fails.
/// </summary>
public class RoundingNoiseTests
{
    /// <summary>The case CI's random programs once shrank to (a loss of 3e7): the tape is right, the differences are noisy.</summary>
    [Test]
    public void LargeLoss_RightGradient_Passes()
    {
        var result = GradCheck.Check(LargeLoss(bias: 0), Inputs());
        Assert.That(result.Passed, Is.True, result.ToString());
        var fast = GradCheck.Check(LargeLoss(bias: 0), Inputs(), new GradCheckOptions { FastMode = true });
        Assert.That(fast.Passed, Is.True, fast.ToString());
    }

    /// <summary>The noise term grows with |f| but stays far below a gradient error of 5 % of the gradient.</summary>
    [Test]
    public void LargeLoss_WrongGradient_StillFails()
    {
        var result = GradCheck.Check(LargeLoss(bias: 0.05), Inputs());
        Assert.That(result.Passed, Is.False, result.ToString());
        Assert.That(result.ToString(), Does.Contain("input 0"));

        // Fast mode projects onto all inputs at once, so only x0 is checked there (x1's gradients are 1e9).
        var inputs = Inputs();
        inputs[1].RequiresGrad = false;
        inputs[2].RequiresGrad = false;
        var fast = GradCheck.Check(LargeLoss(bias: 0.2), inputs, new GradCheckOptions { FastMode = true });
        Assert.That(fast.Passed, Is.False, fast.ToString());
    }

    [Test]
    public void Noise_IsNegligibleForUnitValues_AndProportionalToF()
    {
        Assert.That(GradCheckNoise(1.0), Is.LessThan(1e-9));
        Assert.That(GradCheckNoise(3e7), Is.EqualTo(3e7 * GradCheckNoise(1.0)).Within(1e-12));
    }

    private static double GradCheckNoise(double magnitude) => GradCheck.RoundingNoise(magnitude, 1e-6);

    private static Tensor<double>[] Inputs() =>
    [
        Tensor.FromArray(new[] { 0.55, -0.69 }, [2], requiresGrad: true),
        Tensor.FromArray(Enumerable.Range(0, 27).Select(i => Math.Sin(i) * 0.9).ToArray(), [3, 3, 3], requiresGrad: true),
        Tensor.FromArray(new[] { 0.16 }, [], requiresGrad: true),
    ];

    /// <summary>Σx0² (through a custom square whose VJP is off by <paramref name="bias"/>) + exp(Σ(v2 + v2/(σ(x1) + ½)))².</summary>
    private static Func<Tensor<double>[], Tensor<double>> LargeLoss(double bias) => xs =>
    {
        var square = Function.Apply("Square", [xs[0]], ys =>
        {
            var x = ys[0].ToArray();
            var shape = ys[0].Shape;
            return (Tensor.FromArray(x.Select(a => a * a).ToArray(), shape), (g, grads) =>
            {
                var gv = g.ToArray();
                grads[0] = Tensor.FromArray(gv.Select((d, i) => d * 2 * x[i] * (1 + bias)).ToArray(), shape);
            });
        });
        var big = (xs[2] + xs[2] / (xs[1].Sigmoid() + 0.5)).Sum().Exp();
        return square.Sum() + (big * big).Sum();
    };
}
