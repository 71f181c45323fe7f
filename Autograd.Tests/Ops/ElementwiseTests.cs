using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Ops;

/// <summary>
/// Elementwise ops: gradients against finite differences over broadcast shape pairs and
/// non-contiguous inputs, forward values against scalar maths, and argument errors.
/// </summary>
[Category("GradProperty")]
public class ElementwiseTests
{
    /// <summary>Two broadcast-compatible shapes: suffixes of one full shape with some dims set to 1.</summary>
    private static CaseSpec BinarySpec() => new CaseSpec()
        .Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4)
        .Int("rankA", 0, 3).Int("rankB", 0, 3)
        .Int("onesA", 0, 7).Int("onesB", 0, 7)
        .Views(2);

    internal static void CheckBinary(Func<Tensor<double>, Tensor<double>, Tensor<double>> op, double bLo = -1, double bHi = 1, double aLo = -1, double aHi = 1) =>
        GradProperty.Check(BinarySpec(), c =>
        {
            int[] full = [c["d0"], c["d1"], c["d2"]];
            var g = c.Generator();
            var (a, va) = Inputs.Make(TestData.Suffix(full, c["rankA"], c["onesA"]), c.View(0), g, aLo, aHi);
            var (b, vb) = Inputs.Make(TestData.Suffix(full, c["rankB"], c["onesB"]), c.View(1), g, bLo, bHi);
            return GradCheck.Check(x => op(va(x[0]), vb(x[1])), [a, b]);
        });

    internal static void CheckUnary(Func<Tensor<double>, Tensor<double>> op, double lo = -1, double hi = 1) =>
        GradProperty.Check(
            new CaseSpec().Int("rank", 0, 3).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4).Views(1),
            c =>
            {
                var shape = TestData.Suffix([c["d0"], c["d1"], c["d2"]], c["rank"], 0);
                var (x, vx) = Inputs.Make(shape, c.View(0), c.Generator(), lo, hi);
                return GradCheck.Check(t => op(vx(t[0])), [x]);
            });

    [Test]
    public void Add_GradientMatchesFiniteDifferences() => CheckBinary((a, b) => a.Add(b));

    [Test]
    public void Sub_GradientMatchesFiniteDifferences() => CheckBinary((a, b) => a.Sub(b));

    [Test]
    public void Mul_GradientMatchesFiniteDifferences() => CheckBinary((a, b) => a.Mul(b));

    [Test]
    public void Div_GradientMatchesFiniteDifferences() => CheckBinary((a, b) => a.Div(b), 0.5, 2);

    [Test]
    public void Neg_GradientMatchesFiniteDifferences() => CheckUnary(x => x.Neg());

    [Test]
    public void Exp_GradientMatchesFiniteDifferences() => CheckUnary(x => x.Exp());

    [Test]
    public void Log_GradientMatchesFiniteDifferences() => CheckUnary(x => x.Log(), 0.2, 3);

    [Test]
    public void Tanh_GradientMatchesFiniteDifferences() => CheckUnary(x => x.Tanh(), -2, 2);

    [Test]
    public void Sigmoid_GradientMatchesFiniteDifferences() => CheckUnary(x => x.Sigmoid(), -3, 3);

    [Test]
    public void Operators_GradientMatchesFiniteDifferences() =>
        CheckBinary((a, b) => (a + b) * a - b / (b * b + 1.0) + 2.0 * -a);

    [Test]
    public void Forward_MatchesScalarMathsWithBroadcasting()
    {
        var a = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, [2, 3]);
        var b = Tensor.FromArray(new[] { 10f, 20f, 30f }, [3]);
        var col = Tensor.FromArray(new[] { 2f, 4f }, [2, 1]);
        Assert.That((a + b).ToArray(), Is.EqualTo(new[] { 11f, 22f, 33f, 14f, 25f, 36f }));
        Assert.That((a - b).ToArray(), Is.EqualTo(new[] { -9f, -18f, -27f, -6f, -15f, -24f }));
        Assert.That((a * col).ToArray(), Is.EqualTo(new[] { 2f, 4f, 6f, 16f, 20f, 24f }));
        Assert.That((a / col).ToArray(), Is.EqualTo(new[] { 0.5f, 1f, 1.5f, 1f, 1.25f, 1.5f }));
        Assert.That((1f - a).ToArray(), Is.EqualTo(new[] { 0f, -1f, -2f, -3f, -4f, -5f }));
        Assert.That((col + b).Shape, Is.EqualTo(new[] { 2, 3 }));
        Assert.That(a.Transpose(0, 1).Mul(a.Transpose(0, 1)).ToArray(), Is.EqualTo(new[] { 1f, 16f, 4f, 25f, 9f, 36f }));

        var x = Tensor.FromArray(new[] { -1.0, 0.0, 0.5, 2.0 }, [4]);
        Assert.That(x.Exp().ToArray(), Is.EqualTo(new[] { Math.Exp(-1), 1, Math.Exp(0.5), Math.Exp(2) }).Within(1e-12));
        Assert.That(x.Tanh().ToArray(), Is.EqualTo(new[] { Math.Tanh(-1), 0, Math.Tanh(0.5), Math.Tanh(2) }).Within(1e-12));
        Assert.That(x.Sigmoid().ToArray(), Is.EqualTo(x.ToArray().Select(v => 1 / (1 + Math.Exp(-v)))).Within(1e-12));
        Assert.That(x.Log().ToArray()[2..], Is.EqualTo(new[] { Math.Log(0.5), Math.Log(2) }).Within(1e-12));
        Assert.That(x.Log().At(1), Is.EqualTo(double.NegativeInfinity));
        Assert.That(double.IsNaN(x.Log().At(0)));
        Assert.That((-x).ToArray(), Is.EqualTo(new[] { 1.0, -0.0, -0.5, -2.0 }));
    }

    [Test]
    public void OneElementAndEmptyOperands_BroadcastLikePyTorch()
    {
        Assert.That((Tensor.Zeros<float>(0) * 2f).Shape, Is.EqualTo(new[] { 0 }));
        Assert.That((Tensor.Zeros<float>(0) * 2f).Storage.Length, Is.EqualTo(0));
        Assert.That((Tensor.Zeros<float>(2, 0) + Tensor.Ones<float>(1)).Shape, Is.EqualTo(new[] { 2, 0 }));
        var one = Tensor.FromArray(new[] { 3f }, [1]);
        Assert.That((one + Tensor.Scalar(2f)).Shape, Is.EqualTo(new[] { 1 }));
        Assert.That((Tensor.Scalar(2f) - one).ToArray(), Is.EqualTo(new[] { -1f }));
        var col = Tensor.FromArray(new[] { 1f, 2f }, [2, 1]);
        Assert.That((one * col).Shape, Is.EqualTo(new[] { 2, 1 }));
        Assert.That((Tensor.FromArray(new[] { 5f }, [1, 1]) / Tensor.FromArray(new[] { 1f, 2f }, [2])).ToArray(), Is.EqualTo(new[] { 5f, 2.5f }));
        Assert.That((Tensor.FromArray(new[] { 5f }, [1, 1]) / Tensor.FromArray(new[] { 1f, 2f }, [2])).Shape, Is.EqualTo(new[] { 1, 2 }));
    }

    [Test]
    public void BroadcastMismatch_NamesOpAndShapes()
    {
        var a = Tensor.Zeros<float>(2, 3);
        var b = Tensor.Zeros<float>(4);
        var ex = Assert.Throws<ArgumentException>(() => a.Add(b));
        Assert.That(ex!.Message, Does.Contain("Add").And.Contain("[2, 3]").And.Contain("[4]"));
        ex = Assert.Throws<ArgumentException>(() => _ = a * b);
        Assert.That(ex!.Message, Does.Contain("Mul").And.Contain("[2, 3]").And.Contain("[4]"));
        Assert.Throws<ArgumentNullException>(() => a.Div(null!));
    }

    [Test]
    public void Inputs_AreNotModified()
    {
        var a = Tensor.FromArray(new[] { 1.0, -2.0, 3.0 }, [3], requiresGrad: true);
        var before = a.ToArray();
        var y = (a * a + a.Exp() - a.Tanh() / a.Sigmoid()).Sum();
        y.Backward();
        Assert.That(a.ToArray(), Is.EqualTo(before));
        Assert.That(a.Storage.Version, Is.EqualTo(0));
    }
}
