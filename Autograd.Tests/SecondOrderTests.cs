using Autograd.Testing;
using Autograd.Tests.Core;
using Autograd.Tests.Ops;

namespace Autograd.Tests;

/// <summary>
/// Every op's gradient property rerun at the second order: inside <see cref="GradCheck.UseOrder"/>(2)
/// each generated case goes through GradGradCheck, so the VJP x, v ↦ Jᵀv recorded with createGraph is
/// itself checked against finite differences (a VJP that reads raw values instead of recording ops
/// fails here). One line per op, reusing the op's own generator; an op added later gets its line the
/// same way, and <see cref="OpCoverageTests.SecondOrderOps"/> lists the ops that must have one.
/// </summary>
[Category("GradProperty")]
public class SecondOrderTests
{
    internal static void SecondOrder(Action firstOrderProperty)
    {
        using (GradCheck.UseOrder(2))
        {
            firstOrderProperty();
        }
    }

    // ---- ElementwiseTests ----

    [Test]
    public void Add_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ElementwiseTests().Add_GradientMatchesFiniteDifferences);

    [Test]
    public void Sub_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ElementwiseTests().Sub_GradientMatchesFiniteDifferences);

    [Test]
    public void Mul_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ElementwiseTests().Mul_GradientMatchesFiniteDifferences);

    [Test]
    public void Div_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ElementwiseTests().Div_GradientMatchesFiniteDifferences);

    [Test]
    public void Neg_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ElementwiseTests().Neg_GradientMatchesFiniteDifferences);

    [Test]
    public void Exp_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ElementwiseTests().Exp_GradientMatchesFiniteDifferences);

    [Test]
    public void Log_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ElementwiseTests().Log_GradientMatchesFiniteDifferences);

    [Test]
    public void Tanh_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ElementwiseTests().Tanh_GradientMatchesFiniteDifferences);

    [Test]
    public void Sigmoid_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ElementwiseTests().Sigmoid_GradientMatchesFiniteDifferences);

    [Test]
    public void Operators_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ElementwiseTests().Operators_GradientMatchesFiniteDifferences);

    // ---- ActivationAndLossTests ----

    [Test]
    public void Relu_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ActivationAndLossTests().Relu_GradientMatchesFiniteDifferences);

    [Test]
    public void LogSoftmax_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ActivationAndLossTests().LogSoftmax_GradientMatchesFiniteDifferences);

    [Test]
    public void NllLoss_SecondOrderMatchesFiniteDifferences() => SecondOrder(new LossTests().NllLoss_GradientMatchesFiniteDifferences);

    [Test]
    public void CrossEntropy_SecondOrderMatchesFiniteDifferences() => SecondOrder(new LossTests().CrossEntropy_GradientMatchesFiniteDifferences);

    // ---- ReductionTests ----

    [Test]
    public void Sum_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ReductionTests().Sum_GradientMatchesFiniteDifferences);

    [Test]
    public void Mean_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ReductionTests().Mean_GradientMatchesFiniteDifferences);

    [Test]
    public void Max_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ReductionTests().Max_GradientMatchesFiniteDifferences);

    // ---- MatMulTests ----

    [Test]
    public void MatMul_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MatMulTests().MatMul_GradientMatchesFiniteDifferences);

    // ---- Conv2dTests ----

    [Test]
    public void Conv2d_SecondOrderMatchesFiniteDifferences() => SecondOrder(new Conv2dTests().Conv2d_GradientMatchesFiniteDifferences);

    [Test]
    public void ConvTranspose2d_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ConvTranspose2dTests().ConvTranspose2d_GradientMatchesFiniteDifferences);

    // ---- MaxPool2dTests ----

    [Test]
    public void MaxPool2d_SecondOrderMatchesFiniteDifferences() => SecondOrder(new MaxPool2dTests().MaxPool2d_GradientMatchesFiniteDifferences);

    // ---- ViewTests ----

    [Test]
    public void Reshape_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ViewTests().Reshape_GradientMatchesFiniteDifferences);

    [Test]
    public void View_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ViewTests().View_GradientMatchesFiniteDifferences);

    [Test]
    public void Flatten_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ViewTests().Flatten_GradientMatchesFiniteDifferences);

    [Test]
    public void Unsqueeze_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ViewTests().Unsqueeze_GradientMatchesFiniteDifferences);

    [Test]
    public void Squeeze_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ViewTests().Squeeze_GradientMatchesFiniteDifferences);

    [Test]
    public void Transpose_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ViewTests().Transpose_GradientMatchesFiniteDifferences);

    [Test]
    public void Permute_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ViewTests().Permute_GradientMatchesFiniteDifferences);

    [Test]
    public void Slice_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ViewTests().Slice_GradientMatchesFiniteDifferences);

    [Test]
    public void Narrow_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ViewTests().Narrow_GradientMatchesFiniteDifferences);

    [Test]
    public void Select_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ViewTests().Select_GradientMatchesFiniteDifferences);

    [Test]
    public void Expand_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ViewTests().Expand_GradientMatchesFiniteDifferences);

    [Test]
    public void SumToSize_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ViewTests().SumToSize_GradientMatchesFiniteDifferences);

    [Test]
    public void AsStrided_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ViewTests().AsStrided_GradientMatchesFiniteDifferences);

    [Test]
    public void Contiguous_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ViewTests().Contiguous_GradientMatchesFiniteDifferences);

    [Test]
    public void Clone_SecondOrderMatchesFiniteDifferences() => SecondOrder(new ViewTests().Clone_GradientMatchesFiniteDifferences);

    // ---- LossTests ----

    [Test]
    public void MseLoss_SecondOrderMatchesFiniteDifferences() => SecondOrder(new LossTests().MseLoss_GradientMatchesFiniteDifferences);

    [Test]
    public void L1Loss_SecondOrderMatchesFiniteDifferences() => SecondOrder(new LossTests().L1Loss_GradientMatchesFiniteDifferences);

    [Test]
    public void BinaryCrossEntropyWithLogits_SecondOrderMatchesFiniteDifferences() => SecondOrder(new LossTests().BinaryCrossEntropyWithLogits_GradientMatchesFiniteDifferences);

    // ---- AvgPoolTests ----

    [Test]
    public void AvgPool2d_SecondOrderMatchesFiniteDifferences() => SecondOrder(new AvgPoolTests().AvgPool2d_GradientMatchesFiniteDifferences);

    [Test]
    public void AdaptiveAvgPool2d_SecondOrderMatchesFiniteDifferences() => SecondOrder(new AvgPoolTests().AdaptiveAvgPool2d_GradientMatchesFiniteDifferences);

    // ---- NormalizationTests ----

    [Test]
    public void Dropout_SecondOrderMatchesFiniteDifferences() => SecondOrder(new NormalizationTests().Dropout_GradientMatchesFiniteDifferences);

    [Test]
    public void LayerNorm_SecondOrderMatchesFiniteDifferences() => SecondOrder(new NormalizationTests().LayerNorm_GradientMatchesFiniteDifferences);

    [Test]
    public void BatchNorm2d_SecondOrderMatchesFiniteDifferences() => SecondOrder(new NormalizationTests().BatchNorm2d_GradientMatchesFiniteDifferences);

    // ---- LayerOpTests ----

    [Test]
    public void BatchNorm1d_SecondOrderMatchesFiniteDifferences() => SecondOrder(new LayerOpTests().BatchNorm1d_GradientMatchesFiniteDifferences);

    [Test]
    public void Conv1d_SecondOrderMatchesFiniteDifferences() => SecondOrder(new LayerOpTests().Conv1d_GradientMatchesFiniteDifferences);

    [Test]
    public void GroupNorm_SecondOrderMatchesFiniteDifferences() => SecondOrder(new LayerOpTests().GroupNorm_GradientMatchesFiniteDifferences);

    [Test]
    public void Dropout2d_SecondOrderMatchesFiniteDifferences() => SecondOrder(new LayerOpTests().Dropout2d_GradientMatchesFiniteDifferences);

    [Test]
    public void Interpolate_SecondOrderMatchesFiniteDifferences() => SecondOrder(new LayerOpTests().Interpolate_GradientMatchesFiniteDifferences);
}
