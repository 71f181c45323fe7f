using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Ops;

/// <summary>
/// The generated cases are small, so kernels that spread large work over threads would never run their
/// parallel path under a property: these checks are large enough to take it (on a machine with more than
/// one core), in fast mode.
/// </summary>
[Category("GradProperty")]
public class ParallelPathTests
{
    [Test]
    public void MaxPool2d_ParallelBackward_GradientMatchesFiniteDifferences()
    {
        // 16 planes of 128 × 128 outputs = 2^18: MaxPoolKernel.MaxBackward spreads the planes over threads.
        var g = new Generator(21);
        var x = TestData.Distinct(Tensor.Zeros<double>(1, 16, 129, 129), g);
        x.RequiresGrad = true;
        var r = GradCheck.Check(xs => xs[0].MaxPool2d(2, stride: 1), [x], new GradCheckOptions { FastMode = true, Projections = 2 });
        Assert.That(r.Passed, Is.True, r.Message);
        Assert.That(r.NotDifferentiable, Is.Empty, r.Message);
    }
}
