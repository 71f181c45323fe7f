using Autograd;

namespace Autograd.Tests.Ops;

/// <summary>Multinomial: seeded draws, frequencies, zero weights, draws without replacement, named errors.</summary>
public class MultinomialTests
{
    [Test]
    public void Multinomial_SameSeed_SameDraws()
    {
        var p = Tensor.FromArray(new[] { 0.1, 0.2, 0.3, 0.4, 1, 1, 1, 1 }, [2, 4]);
        var a = p.Multinomial(6, replacement: true, new Generator(5));
        var b = p.Multinomial(6, replacement: true, new Generator(5));
        var c = p.Multinomial(6, replacement: true, new Generator(6));
        Assert.That(a.Shape, Is.EqualTo(new[] { 2, 6 }));
        Assert.That(b.ToArray(), Is.EqualTo(a.ToArray()));
        Assert.That(c.ToArray(), Is.Not.EqualTo(a.ToArray()));
        Assert.That(p.Transpose(0, 1).Contiguous().Transpose(0, 1).Multinomial(6, true, new Generator(5)).ToArray(), Is.EqualTo(a.ToArray()), "a strided view reads the same rows");
    }

    [Test]
    public void Multinomial_WithReplacement_DrawsInProportion_AndNeverAZeroWeight()
    {
        var p = Tensor.FromArray(new float[] { 0, 1, 2, 0, 7, 0 });   // weights, not normalised
        var draws = p.Multinomial(20000, replacement: true, new Generator(1)).ToArray();
        var counts = new double[6];
        foreach (var d in draws)
        {
            counts[d]++;
        }

        Assert.That(counts[0] + counts[3] + counts[5], Is.Zero, "categories of weight 0");
        Assert.That(counts[1] / 20000, Is.EqualTo(0.1).Within(0.015));   // σ ≈ 0.002
        Assert.That(counts[2] / 20000, Is.EqualTo(0.2).Within(0.015));
        Assert.That(counts[4] / 20000, Is.EqualTo(0.7).Within(0.015));
    }

    [Test]
    public void Multinomial_WithoutReplacement_DrawsEachCategoryOnce()
    {
        var p = Tensor.FromArray(new[] { 1.0, 2, 3, 4, 5, 0, 0, 1, 1, 0 }, [2, 5]);
        var all = p[0].Multinomial(5, generator: new Generator(3)).ToArray();
        Assert.That(all.Order(), Is.EqualTo(new long[] { 0, 1, 2, 3, 4 }));
        var two = p[1].Multinomial(2, generator: new Generator(3)).ToArray();
        Assert.That(two.Order(), Is.EqualTo(new long[] { 2, 3 }), "only the categories of non-zero weight");

        // The first draw is the most likely category far more often than not.
        var first = Enumerable.Range(0, 2000).Count(s => Tensor.FromArray(new[] { 1.0, 1, 18 }).Multinomial(3, generator: new Generator((ulong)s)).At(0) == 2);
        Assert.That(first / 2000.0, Is.EqualTo(0.9).Within(0.03));
    }

    [Test]
    public void Multinomial_NoRows_NoDraws()
    {
        Assert.That(Tensor.Zeros<double>(0, 3).Multinomial(2).Shape, Is.EqualTo(new[] { 0, 2 }));
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<double>(2, 0).Multinomial(1, replacement: true));
        Assert.That(ex!.Message, Does.Contain("row 0").And.Contain("sums to 0"));
    }

    [Test]
    public void Multinomial_BadRows_NameTheRow()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tensor.FromArray(new[] { 1.0, 1, 0.5, -0.5 }, [2, 2]).Multinomial(1));
        Assert.That(ex!.Message, Does.Contain("Multinomial").And.Contain("row 1").And.Contain("-0.5").And.Contain("[2, 2]"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.FromArray(new[] { 1.0, 1, 0, 0 }, [2, 2]).Multinomial(1, true));
        Assert.That(ex!.Message, Does.Contain("row 1").And.Contain("sums to 0"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.FromArray(new[] { double.NaN, 1 }).Multinomial(1));
        Assert.That(ex!.Message, Does.Contain("row 0").And.Contain("NaN"));
        Assert.Throws<ArgumentException>(() => Tensor.FromArray(new[] { double.PositiveInfinity, 1 }).Multinomial(1));
        ex = Assert.Throws<ArgumentException>(() => Tensor.FromArray(new[] { 1.0, 0, 1, 1, 1, 1 }, [2, 3]).Multinomial(3));
        Assert.That(ex!.Message, Does.Contain("row 0").And.Contain("2 categories of non-zero weight"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Ones<double>(3).Multinomial(4));
        Assert.That(ex!.Message, Does.Contain("without replacement").And.Contain("[3]"));
        Assert.That(Tensor.Ones<double>(3).Multinomial(4, replacement: true).Numel, Is.EqualTo(4));
        Assert.That(Assert.Throws<ArgumentException>(() => Tensor.Ones<double>(3).Multinomial(0))!.ParamName, Is.EqualTo("numSamples"));
        Assert.That(Assert.Throws<ArgumentException>(() => Tensor.Ones<double>(1, 1, 3).Multinomial(1))!.Message, Does.Contain("[1, 1, 3]"));
    }
}
