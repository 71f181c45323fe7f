using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Ops;

/// <summary>Norm (p = 2, 1, ∞, "fro") over generated shapes, dim sets and views; PyTorch's values and zero subgradients; errors.</summary>
[Category("GradProperty")]
public class NormTests
{
    private static readonly object[] Ps = [2.0, 1.0, double.PositiveInfinity, "fro"];

    /// <summary>Rank 0-3, a bit per dim saying whether it is reduced (none set: all), keepDim, and which p.</summary>
    private static CaseSpec Spec() => new CaseSpec()
        .Int("rank", 0, 3).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4).Int("dims", 0, 7).Int("keep", 0, 1).Int("p", 0, 3)
        .Views(1).Where(c => c["p"] != 3 || BitCount(c["dims"] & ((1 << c["rank"]) - 1)) <= 2);

    private static int BitCount(int bits) => System.Numerics.BitOperations.PopCount((uint)bits);

    private static int[]? Dims(Case c)
    {
        var dims = Enumerable.Range(0, c["rank"]).Where(d => (c["dims"] & (1 << d)) != 0).ToArray();
        return dims.Length == 0 ? null : dims;
    }

    private static Tensor<double> Norm(Tensor<double> x, object p, int[]? dims, bool keepDim) =>
        p is string s ? x.Norm(s, dims, keepDim) : x.Norm((double)p, dims, keepDim);

    [Test]
    public void Norm_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(Spec(), c =>
        {
            var (x, vx) = Inputs.Make(TestData.Suffix([c["d0"], c["d1"], c["d2"]], c["rank"], 0), c.View(0), c.Generator());
            return GradCheck.Check(t => Norm(vx(t[0]), Ps[c["p"]], Dims(c), c["keep"] == 1), [x]);
        });

    [Test]
    public void Norm_SecondOrderMatchesFiniteDifferences() => SecondOrderTests.SecondOrder(Norm_GradientMatchesFiniteDifferences);

    [Test]
    public void Norm_MatchesPyTorch()
    {
        var x = Tensor.FromArray(new[] { 3.0, -4, 0, 1 }, [2, 2]);
        Assert.That(x.Norm().Item(), Is.EqualTo(Math.Sqrt(26)).Within(1e-15));              // torch.norm(x)
        Assert.That(x.Norm("fro").Item(), Is.EqualTo(Math.Sqrt(26)).Within(1e-15));
        Assert.That(x.Norm(1, [1]).ToArray(), Is.EqualTo(new[] { 7.0, 1 }));                // torch.norm(x, 1, dim=1)
        Assert.That(x.Norm(double.PositiveInfinity, [1]).ToArray(), Is.EqualTo(new[] { 4.0, 1 }));
        Assert.That(x.Norm(2, [0], keepDim: true).Shape, Is.EqualTo(new[] { 1, 2 }));
        Assert.That(x.Norm(2, [0], keepDim: true).ToArray(), Is.EqualTo(new[] { 3.0, Math.Sqrt(17) }));
        Assert.That(Tensor.Zeros<double>(0).Norm().Item(), Is.EqualTo(0.0), "the norm of nothing is 0 (p = 2, 1)");
    }

    [Test]
    public void Norm_AtZeroAndAtTies_GivesPyTorchsSubgradients()
    {
        foreach (var p in new[] { 2.0, 1.0, double.PositiveInfinity })
        {
            var zero = Tensor.Zeros<double>(2, 3);
            zero.RequiresGrad = true;
            zero.Norm(p, [1]).Sum().Backward();
            Assert.That(zero.Grad!.ToArray(), Is.All.EqualTo(0.0), $"p = {p} at 0: the zero subgradient, not NaN");
        }

        // Two elements of largest magnitude share the ∞-norm's gradient, each with its sign.
        var x = Tensor.FromArray(new[] { 3.0, -3, 1 }, [3], requiresGrad: true);
        x.Norm(double.PositiveInfinity).Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 0.5, -0.5, 0 }));

        // One row all zeros, the other not: only the zero row's gradient is the subgradient.
        var y = Tensor.FromArray(new[] { 0.0, 0, 3, 4 }, [2, 2], requiresGrad: true);
        y.Norm(2, [1]).Sum().Backward();
        Assert.That(y.Grad!.ToArray(), Is.EqualTo(new[] { 0.0, 0, 0.6, 0.8 }).Within(1e-15));
    }

    [Test]
    public void Norm_BadArguments_NameTheOpAndShape()
    {
        var x = Tensor.Zeros<double>(2, 3);
        var ex = Assert.Throws<ArgumentException>(() => x.Norm(3));
        Assert.That(ex!.Message, Does.Contain("Norm").And.Contain("[2, 3]"));
        Assert.That(ex.ParamName, Is.EqualTo("p"));
        Assert.That(Assert.Throws<NotSupportedException>(() => x.Norm("nuc"))!.Message, Does.Contain("nuc"));
        Assert.That(Assert.Throws<ArgumentException>(() => x.Norm("frob"))!.ParamName, Is.EqualTo("p"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<double>(1, 1, 1).Norm("fro", [0, 1, 2]));
        Assert.That(ex!.Message, Does.Contain("at most two dims"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<double>(2, 0).Norm(double.PositiveInfinity, [1]));
        Assert.That(ex!.Message, Does.Contain("Norm").And.Contain("[2, 0]"));
        ex = Assert.Throws<ArgumentException>(() => x.Norm(2, [2]));
        Assert.That(ex!.Message, Does.Contain("Norm"));
    }
}
