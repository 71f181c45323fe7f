using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Core;

/// <summary>
/// The names a PyTorch user types (issue 19): factories (Eye, Linspace, Empty, RandnLike, Randint,
/// FromArray of rectangular arrays), Squeeze(), x.T, To/Float/Double, Size(), and how tensors print.
/// </summary>
[Category("GradProperty")]
public class ConveniencesTests
{
    [Test]
    public void Eye_AndLinspace_AsPyTorch()
    {
        Assert.That(Tensor.Eye<float>(2, 3).ToArray(), Is.EqualTo(new[] { 1f, 0, 0, 0, 1, 0 }));
        Assert.That(Tensor.Eye<double>(3).Shape, Is.EqualTo(new[] { 3, 3 }));
        Assert.That(Tensor.Eye<double>(3).Sum().Item(), Is.EqualTo(3));
        Assert.That(Tensor.Eye<double>(0).Shape, Is.EqualTo(new[] { 0, 0 }));
        Assert.Throws<ArgumentException>(() => Tensor.Eye<float>(-1));

        // torch.linspace(0, 1, 5) → [0, .25, .5, .75, 1]; both ends exact.
        Assert.That(Tensor.Linspace(0.0, 1, 5).ToArray(), Is.EqualTo(new[] { 0, 0.25, 0.5, 0.75, 1 }));
        Assert.That(Tensor.Linspace(-1f, 0.3f, 7).ToArray()[^1], Is.EqualTo(0.3f));
        Assert.That(Tensor.Linspace(2.0, 2, 1).ToArray(), Is.EqualTo(new[] { 2.0 }));
        Assert.That(Tensor.Linspace(0.0, 1, 0).Shape, Is.EqualTo(new[] { 0 }));
        Assert.That(Tensor.Linspace(1.0, 0, 3).ToArray(), Is.EqualTo(new[] { 1, 0.5, 0 }));
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Linspace(0.0, 1, -2))!;
        Assert.That(ex.Message, Does.Contain("Linspace").And.Contain("-2"));
    }

    [Test]
    public void RandomFactories_AndEmpty()
    {
        var x = Tensor.Zeros<float>(2, 5);
        var r = Tensor.RandnLike(x, new Generator(1));
        Assert.That(r.Shape, Is.EqualTo(new[] { 2, 5 }));
        Assert.That(r.ToArray(), Is.EqualTo(Tensor.Randn<float>([2, 5], new Generator(1)).ToArray()));
        Assert.That(Tensor.RandLike(x, new Generator(1)).ToArray().All(v => v is >= 0 and < 1), Is.True);

        var idx = Tensor.Randint(-2, 3, [1000], new Generator(2));
        Assert.That(idx.Shape, Is.EqualTo(new[] { 1000 }));
        Assert.That(idx.ToArray().Distinct().Order(), Is.EqualTo(new long[] { -2, -1, 0, 1, 2 }), "every value of [low, high) and no other");
        Assert.That(Tensor.Randint(4, [3, 2]).Shape, Is.EqualTo(new[] { 3, 2 }));
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Randint(3, 3, [2]))!;
        Assert.That(ex.Message, Does.Contain("Randint").And.Contain("high 3"));

        var e = Tensor.Empty<double>(3, 4);
        Assert.That(e.Shape, Is.EqualTo(new[] { 3, 4 }));
        Assert.Throws<ArgumentException>(() => Tensor.Empty<double>(-1));
    }

    [Test]
    public void FromArray_OfRectangularArrays_KeepsTheirShapeAndOrder()
    {
        var m = Tensor.FromArray(new float[,] { { 1, 2, 3 }, { 4, 5, 6 } });
        Assert.That(m.Shape, Is.EqualTo(new[] { 2, 3 }));
        Assert.That(m.At(1, 0), Is.EqualTo(4f));
        var c = Tensor.FromArray(new double[,,] { { { 1, 2 } }, { { 3, 4 } } }, requiresGrad: true);
        Assert.That(c.Shape, Is.EqualTo(new[] { 2, 1, 2 }));
        Assert.That(c.ToArray(), Is.EqualTo(new[] { 1.0, 2, 3, 4 }));
        Assert.That(c.RequiresGrad, Is.True);
        var four = new float[2, 1, 3, 2];
        four[1, 0, 2, 1] = 7;
        Assert.That(Tensor.FromArray(four).At(1, 0, 2, 1), Is.EqualTo(7f));
        Assert.That(Tensor.FromArray(new float[0, 3]).Shape, Is.EqualTo(new[] { 0, 3 }));
    }

    [Test]
    public void SqueezeAll_T_AndSize()
    {
        var x = Tensor.Zeros<float>(1, 3, 1, 2);
        Assert.That(x.Squeeze().Shape, Is.EqualTo(new[] { 3, 2 }));
        Assert.That(Tensor.Zeros<float>(1, 1).Squeeze().Shape, Is.Empty);

        var m = Tensor.FromArray(new[] { 1.0, 2, 3, 4, 5, 6 }, [2, 3], requiresGrad: true);
        Assert.That(m.T.Shape, Is.EqualTo(new[] { 3, 2 }));
        Assert.That(m.T.At(2, 1), Is.EqualTo(6.0));
        var v = Tensor.Ones<double>(4);
        Assert.That(v.T, Is.SameAs(v), "a vector's .T is itself, as PyTorch");
        var ex = Assert.Throws<ArgumentException>(() => _ = Tensor.Zeros<float>(2, 3, 4).T)!;
        Assert.That(ex.Message, Does.Contain("[2, 3, 4]").And.Contain("Transpose(-2, -1)"));
        (m.T * Tensor.FromArray(new[] { 1.0, 2 })).Sum().Backward();
        Assert.That(m.Grad!.ToArray(), Is.EqualTo(new[] { 1.0, 1, 1, 2, 2, 2 }));

        Assert.That(m.Size().ToString(), Is.EqualTo("[2, 3]"));
        Assert.That($"{Tensor.Scalar(1f).Size()}", Is.EqualTo("[]"));
        Assert.That(m.Size() == new Size(2, 3), Is.True);
        Assert.That(m.Size()[-1], Is.EqualTo(3));
        Assert.That(m.Size().Numel(), Is.EqualTo(6));
        int[] asArray = m.Size();
        Assert.That(asArray, Is.EqualTo(new[] { 2, 3 }));
        Assert.That(m.Size(-2), Is.EqualTo(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = m.Size()[2]);
        Assert.Throws<ArgumentException>(() => Tensor.Scalar(1f).Size(0));
        Assert.That(IndexTensor.FromArray([1, 2]).Size().ToString(), Is.EqualTo("[2]"));
    }

    [Test]
    public void ToFloatDouble_AreCasts_AndSameTypeIsTheTensorItself()
    {
        var x = Tensor.FromArray(new[] { 0.5, 1.25 }, requiresGrad: true);
        Assert.That(x.To<double>(), Is.SameAs(x));
        Assert.That(x.Double(), Is.SameAs(x));
        var f = x.Float();
        Assert.That(f.ToArray(), Is.EqualTo(new[] { 0.5f, 1.25f }));
        Assert.That(f.GradFn!.OpName, Is.EqualTo("Cast"));
        (f * 2f).Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 2.0, 2 }));
        Assert.That(IndexTensor.FromArray([1, 0, 2]).Float().ToArray(), Is.EqualTo(new[] { 1f, 0, 2 }));
        Assert.That(IndexTensor.FromArray([1, 0, 2]).To<double>().Shape, Is.EqualTo(new[] { 3 }));
    }

    /// <summary>The Cast property's function with the named conversions: float-exact data, a quadratic through both directions.</summary>
    private static void CheckRoundTrip(Func<Tensor<double>, Tensor<float>> toFloat, Func<Tensor<float>, Tensor<double>> toDouble) =>
        GradProperty.Check(
            new CaseSpec().Int("rank", 0, 3).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4).Views(1),
            c =>
            {
                var shape = TestData.Suffix([c["d0"], c["d1"], c["d2"]], c["rank"], 0);
                var (x, vx) = Inputs.Make(shape, c.View(0), c.Generator());
                var data = x.Storage.Span;
                for (var i = 0; i < data.Length; i++)
                {
                    data[i] = (float)data[i];
                }

                // As Cast_GradientMatchesFiniteDifferences: exact in float at a power-of-two step.
                var options = new GradCheckOptions { Eps = 1.0 / 16, Atol = 1e-4, Rtol = 1e-3 };
                return GradCheck.Check(t => toDouble(toFloat(vx(t[0])) * 2f) * vx(t[0]) * 1.5 + vx(t[0]).Double() * 2.0, [x], options);
            });

    [Test]
    public void Float_GradientMatchesFiniteDifferences() => CheckRoundTrip(x => x.Float(), y => y.Double());

    [Test]
    public void Double_GradientMatchesFiniteDifferences() => CheckRoundTrip(x => x.Float(), y => y.Double());

    [Test]
    public void To_GradientMatchesFiniteDifferences() => CheckRoundTrip(x => x.To<float>(), y => y.To<double>());

    [Test]
    public void T_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec().Int("rank", 0, 2).Int("d0", 1, 3).Int("d1", 1, 4).Views(1),
            c =>
            {
                var shape = TestData.Suffix([c["d0"], c["d1"]], c["rank"], 0);
                var (x, vx) = Inputs.Make(shape, c.View(0), c.Generator());
                return GradCheck.Check(t => vx(t[0]).T * vx(t[0]).T, [x]);
            });

    [Test]
    public void Float_SecondOrderMatchesFiniteDifferences() => SecondOrderTests.SecondOrder(Float_GradientMatchesFiniteDifferences);

    [Test]
    public void Printing_FollowsPyTorch()
    {
        // torch.tensor([1e-6, 1.]) → tensor([1.0000e-06, 1.0000e+00])
        Assert.That(Tensor.FromArray(new[] { 1e-6f, 1f }).ToString(), Is.EqualTo("tensor([1.0000e-06, 1.0000e+00], dtype=float32)"));
        // torch.tensor([0.1234567, -2.5]) → tensor([ 0.1235, -2.5000])
        Assert.That(Tensor.FromArray(new[] { 0.1234567, -2.5 }).ToString(), Is.EqualTo("tensor([ 0.1235, -2.5000], dtype=float64)"));
        // Integers: tensor([1., 2., -3.]); big ones: tensor([1.0000e+09, 1.0000e+00])
        Assert.That(Tensor.FromArray(new[] { 1.0, 2, -3 }).ToString(), Is.EqualTo("tensor([ 1.,  2., -3.], dtype=float64)"));
        Assert.That(Tensor.FromArray(new[] { 1e9, 1 }).ToString(), Is.EqualTo("tensor([1.0000e+09, 1.0000e+00], dtype=float64)"));
        Assert.That(Tensor.FromArray(new[] { double.NaN, 0.5, double.NegativeInfinity }).ToString(), Is.EqualTo("tensor([   nan, 0.5000,   -inf], dtype=float64)"));
        Assert.That(Tensor.Zeros<float>(2).ToString(), Is.EqualTo("tensor([0., 0.], dtype=float32)"));
        Assert.That(Tensor.Scalar(1e-6).ToString(), Is.EqualTo("tensor(1.0000e-06, shape=[], dtype=float64)"));

        // Rows wrap at 80 columns: 20 elements of width 6 + 2 → 9 a line after the 7-column prefix.
        var text = Tensor.Linspace(0.5f, 10f, 20).ToString();
        var lines = text.Split('\n');
        Assert.That(lines, Has.Length.EqualTo(3));
        Assert.That(lines.All(l => l.Length <= 80), Is.True, text);
        Assert.That(lines[1], Does.StartWith("        "), "continuation lines align under the first element");

        // Over 1000 elements: three items at each end of every dimension.
        // Over 1000 elements: three items at each end of every dimension (1000 … 2999: integers, ratio under 1000).
        var big = (Tensor.Arange(2000.0).Reshape(40, 50) + 1000.0).ToString();
        Assert.That(big, Does.StartWith("tensor([[1000., 1001., 1002.,  ..., 1047., 1048., 1049.],\n        [1050.,"));
        Assert.That(big, Does.Contain("        ...,\n"));
        Assert.That(big, Does.Contain("[2950., 2951., 2952.,  ..., 2997., 2998., 2999.]], shape=[40, 50]"));

        // 0 … 1999 spans more than 1000: scientific, as torch.arange(2000.).reshape(40, 50) prints; rows wrap.
        var sci = Tensor.Arange(2000.0).Reshape(40, 50).ToString();
        Assert.That(sci, Does.StartWith("tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 4.7000e+01, 4.8000e+01,\n         4.9000e+01],"));

        // Rank 3: a blank line between blocks.
        Assert.That(Tensor.Zeros<float>(2, 1, 1).ToString(), Is.EqualTo("tensor([[[0.]],\n\n        [[0.]]], shape=[2, 1, 1], dtype=float32)"));

        Assert.That(IndexTensor.FromArray([3, 10, 4]).ToString(), Is.EqualTo("tensor([ 3, 10,  4], shape=[3], dtype=int64)"));
    }
}
