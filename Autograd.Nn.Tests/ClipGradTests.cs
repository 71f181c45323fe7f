namespace Autograd.Nn.Tests;

/// <summary>
/// Utils.ClipGradNorm and ClipGradValue against PyTorch's clip_grad_norm_/clip_grad_value_, on gradients
/// whose norms are whole numbers: a = [3, 4] (‖a‖₂ = 5) and b = [12] (‖b‖₂ = 12), so the total 2-norm is 13.
/// </summary>
public class ClipGradTests
{
    private static Tensor<double> WithGrad(params double[] grad)
    {
        var p = Tensor.Zeros<double>(grad.Length);
        p.RequiresGrad = true;
        p.Grad = Tensor.FromArray(grad);
        return p;
    }

    [Test]
    public void ClipGradNorm_ScalesByMaxNormOverTotal_AndReturnsTheTotalBeforeClipping()
    {
        var a = WithGrad(3, 4);
        var b = WithGrad(12);
        var total = Utils.ClipGradNorm([a, b], maxNorm: 6.5);
        Assert.That(total, Is.EqualTo(13.0).Within(1e-12));
        // coefficient 6.5 / (13 + 1e-6) = 0.49999996153846454
        Assert.That(a.Grad!.ToArray(), Is.EqualTo(new[] { 1.4999998846153937, 1.9999998461538582 }).Within(1e-14));
        Assert.That(b.Grad!.ToArray(), Is.EqualTo(new[] { 5.999999538461575 }).Within(1e-14));
    }

    [Test]
    public void ClipGradNorm_FloatGradients_SumTheirSquaresInDouble_AtAnyLength()
    {
        // Float gradients of lengths around the 8-lane blocks (and one of 100,003): the total 2-norm is the double
        // sum of the widened squares, as a plain double loop gives it (to double rounding, not float's).
        foreach (var n in new[] { 1, 7, 8, 9, 17, 100_003 })
        {
            var values = Enumerable.Range(0, n).Select(i => (float)(Math.Sin(i * 0.7) * 1e3 + 1e-3 * i)).ToArray();
            var p = Tensor.Zeros<float>(n);
            p.RequiresGrad = true;
            p.Grad = Tensor.FromArray(values);
            var q = Tensor.Zeros<float>(1);
            q.RequiresGrad = true;
            q.Grad = Tensor.FromArray(new[] { 0.5f });
            var expected = Math.Sqrt(values.Sum(v => (double)v * v) + 0.25);
            Assert.That(Utils.ClipGradNorm([p, q], maxNorm: 1e30), Is.EqualTo(expected).Within(1e-13 * expected), $"n = {n}");
        }
    }

    [Test]
    public void ClipGradNorm_BelowTheMaximum_LeavesTheGradientsAlone()
    {
        var a = WithGrad(3, 4);
        var grad = a.Grad;
        Assert.That(Utils.ClipGradNorm([a], maxNorm: 20), Is.EqualTo(5.0).Within(1e-12));
        Assert.That(a.Grad, Is.SameAs(grad));
        Assert.That(a.Grad!.ToArray(), Is.EqualTo(new[] { 3.0, 4.0 }));
    }

    [Test]
    public void ClipGradNorm_InfinityAndOneNorms()
    {
        var a = WithGrad(3, -4);
        var b = WithGrad(-12);
        Assert.That(Utils.ClipGradNorm([a, b], maxNorm: 6, normType: double.PositiveInfinity), Is.EqualTo(12.0));
        // coefficient 6 / (12 + 1e-6) = 0.4999999583333368
        Assert.That(b.Grad!.ToArray()[0], Is.EqualTo(-12 * 0.4999999583333368).Within(1e-14));
        Assert.That(Utils.ClipGradNorm([WithGrad(3, -4), WithGrad(-12)], maxNorm: 100, normType: 1), Is.EqualTo(19.0).Within(1e-12));
        Assert.That(Utils.ClipGradNorm([WithGrad(3, -4), WithGrad(-12)], maxNorm: 100, normType: 3), Is.EqualTo(Math.Cbrt(27 + 64 + 1728)).Within(1e-12));
    }

    [Test]
    public void ClipGradNorm_SkipsParametersWithoutGradient_AndCountsEachTensorOnce()
    {
        var a = WithGrad(3, 4);
        var b = WithGrad(12);
        var none = Tensor.Zeros<double>(2);
        none.RequiresGrad = true;
        Assert.That(Utils.ClipGradNorm([a, none, b, a], maxNorm: 100), Is.EqualTo(13.0).Within(1e-12), "a listed twice is still one tensor");
        Assert.That(none.Grad, Is.Null);
        Assert.That(Utils.ClipGradNorm([none], maxNorm: 1), Is.EqualTo(0.0), "no gradients: norm 0, as PyTorch");
        Assert.That(Utils.ClipGradNorm(Array.Empty<Tensor<double>>(), maxNorm: 1), Is.EqualTo(0.0));
    }

    [Test]
    public void ClipGradNorm_NonFiniteTotal_ScalesByIt_OrThrowsWhenAsked()
    {
        var a = WithGrad(double.NaN, 1);
        Assert.That(Utils.ClipGradNorm([a], maxNorm: 1), Is.NaN);
        Assert.That(a.Grad!.ToArray(), Is.All.NaN, "PyTorch multiplies by the NaN coefficient");

        var b = WithGrad(double.PositiveInfinity, 1);
        var ex = Assert.Throws<InvalidOperationException>(() => Utils.ClipGradNorm([b], maxNorm: 1, errorIfNonfinite: true));
        Assert.That(ex!.Message, Does.StartWith("ClipGradNorm: the total norm of order 2 of the gradients of 1 parameters is Infinity, so they cannot be clipped"));
        Assert.That(b.Grad!.ToArray()[1], Is.EqualTo(1.0), "nothing was scaled");
    }

    [Test]
    public void ClipGradNorm_WorksOnFloat_AndOnStridedGradients()
    {
        var p = Tensor.Zeros<float>(2, 2);
        p.RequiresGrad = true;
        p.Grad = Tensor.FromArray([3f, 0f, 4f, 0f], [2, 2]).Transpose(0, 1);   // [[3, 4], [0, 0]], not contiguous
        Assert.That(Utils.ClipGradNorm([p], maxNorm: 2.5), Is.EqualTo(5.0).Within(1e-6));
        Assert.That(p.Grad!.ToArray(), Is.EqualTo(new[] { 1.5f, 2f, 0f, 0f }).Within(1e-6));
    }

    [Test]
    public void ClipGradValue_ClampsEveryElement_SkippingMissingGradients()
    {
        var a = WithGrad(-3, 0.5, 2);
        var none = Tensor.Zeros<double>(1);
        Utils.ClipGradValue([a, none], clipValue: 1);
        Assert.That(a.Grad!.ToArray(), Is.EqualTo(new[] { -1.0, 0.5, 1.0 }));
        Assert.That(none.Grad, Is.Null);
    }

    [Test]
    public void BadArguments_NameTheFunction()
    {
        var a = WithGrad(1);
        Assert.That(Assert.Throws<ArgumentException>(() => Utils.ClipGradNorm([a], maxNorm: -1))!.Message, Does.StartWith("ClipGradNorm: maxNorm must be finite and >= 0, got -1"));
        Assert.That(Assert.Throws<ArgumentException>(() => Utils.ClipGradNorm([a], maxNorm: double.NaN))!.Message, Does.StartWith("ClipGradNorm: maxNorm"));
        Assert.That(Assert.Throws<ArgumentException>(() => Utils.ClipGradNorm([a], maxNorm: 1, normType: 0))!.Message, Does.StartWith("ClipGradNorm: normType must be positive"));
        Assert.That(Assert.Throws<ArgumentException>(() => Utils.ClipGradNorm([a, null!], maxNorm: 1))!.Message, Does.StartWith("ClipGradNorm: parameter 1 is null"));
        Assert.That(Assert.Throws<ArgumentException>(() => Utils.ClipGradValue([a], clipValue: -0.5))!.Message, Does.StartWith("ClipGradValue: clipValue must be finite and >= 0, got -0.5"));
        Assert.Throws<ArgumentNullException>(() => Utils.ClipGradNorm<double>(null!, maxNorm: 1));
    }

    [Test]
    public void MaxNormAndClipValueOfZero_ZeroTheGradients()
    {
        // PyTorch allows max_norm = 0 and clip_value = 0: every gradient becomes 0.
        var a = WithGrad(3, 4);
        Assert.That(Utils.ClipGradNorm([a], maxNorm: 0), Is.EqualTo(5.0).Within(1e-12));
        Assert.That(a.Grad!.ToArray(), Is.All.EqualTo(0.0));
        var b = WithGrad(-2, 0.5);
        Utils.ClipGradValue([b], clipValue: 0);
        Assert.That(b.Grad!.ToArray(), Is.All.EqualTo(0.0));
    }
}
