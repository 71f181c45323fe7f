using Autograd;
using Autograd.Testing;

namespace Autograd.Tests.HigherOrder;

/// <summary>
/// WGAN-GP's gradient penalty, λ·mean_b (‖∇ₓD(x_b)‖ − 1)²: a loss made of a gradient, so training it
/// needs the gradient of a gradient (createGraph).
/// </summary>
public class GradientPenaltyTests
{
    /// <summary>‖v‖ per row as exp(½·log Σ v²) (Sqrt arrives with the elementwise ops).</summary>
    private static Tensor<double> RowNorms(Tensor<double> v) => ((v * v).Sum(1) + 1e-30).Log().Mul(Tensor.Scalar(0.5)).Exp();

    /// <summary>mean_b (‖∇ₓ Σ D(x)‖_b − 1)², with ∇ₓ recorded so the penalty can be differentiated.</summary>
    private static Tensor<double> Penalty(Func<Tensor<double>, Tensor<double>> critic, Tensor<double> samples)
    {
        var x = samples.Detach();
        x.RequiresGrad = true;
        var scores = critic(x);
        var grad = Tensor.Grad(scores.Sum(), x, createGraph: true)!;
        var gap = RowNorms(grad) - 1.0;
        return (gap * gap).Mean();
    }

    [Test]
    public void LinearCritic_PenaltyAndItsGradient_MatchHandDerivedValues()
    {
        // D(x) = x·w, so ∇ₓD = wᵀ for every sample: penalty = (‖w‖ − 1)² = (5 − 1)² = 16 for w = (3, 4),
        // and d penalty / dw = 2(‖w‖ − 1)·w/‖w‖ = 2·4·(3, 4)/5 = (4.8, 6.4).
        var w = Tensor.FromArray(new[] { 3.0, 4 }, [2, 1], requiresGrad: true);
        var samples = Tensor.Randn<double>([5, 2], new Generator(2));
        var penalty = Penalty(x => x.MatMul(w), samples);
        Assert.That(penalty.Item(), Is.EqualTo(16).Within(1e-12));
        penalty.Backward();
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(new[] { 4.8, 6.4 }).Within(1e-12));
    }

    [Test]
    public void MlpCritic_PenaltyGradients_MatchFiniteDifferences()
    {
        // D(x) = tanh(x·W1 + b1)·W2 on a batch of 4 two-dimensional samples: the penalty's gradient with
        // respect to every parameter goes through the double-backward graph of Tanh, Add, MatMul and Sum.
        var gen = new Generator(7);
        var w1 = Tensor.Randn<double>([2, 3], gen, requiresGrad: true);
        var b1 = Tensor.Randn<double>([3], gen, requiresGrad: true);
        var w2 = Tensor.Randn<double>([3, 1], gen, requiresGrad: true);
        var samples = Tensor.Randn<double>([4, 2], gen);
        static Tensor<double> Critic(Tensor<double> x, Tensor<double>[] p) => (x.MatMul(p[0]) + p[1]).Tanh().MatMul(p[2]);

        // GradCheck evaluates f with grad mode off; the penalty needs it on for its inner gradient.
        var result = GradCheck.Check(
            p =>
            {
                using (Tensor.EnableGrad())
                {
                    return Penalty(x => Critic(x, p), samples);
                }
            },
            [w1, b1, w2]);
        Assert.That(result.Passed, result.Message);

        // And a training step sees the same gradient Backward gives.
        var penalty = Penalty(x => Critic(x, [w1, b1, w2]), samples);
        penalty.Backward();
        Assert.That(w1.Grad, Is.Not.Null);
        Assert.That(w1.Grad!.ToArray().Any(v => v != 0));
    }

    [Test]
    public void ConvCritic_Penalty_MatchesFiniteDifferences()
    {
        // Images through Conv2d, Relu, MaxPool2d and a linear head: every VJP on the way is differentiated.
        var gen = new Generator(9);
        var w = Tensor.Randn<double>([2, 1, 3, 3], gen, requiresGrad: true);
        var head = Tensor.Randn<double>([2 * 2 * 2, 1], gen, requiresGrad: true);
        var samples = Tensor.Randn<double>([2, 1, 5, 5], gen);
        var result = GradCheck.Check(
            p =>
            {
                using (Tensor.EnableGrad())
                {
                    return Penalty(x => x.Conv2d(p[0], padding: 1).Relu().MaxPool2d(2).Flatten(1).MatMul(p[1]), samples);
                }
            },
            [w, head]);
        Assert.That(result.Passed, result.Message);
    }
}
