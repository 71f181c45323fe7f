using System.Numerics;

namespace Autograd.Nn;

/// <summary>Max pooling over [N, C, H, W] windows (PyTorch's <c>nn.MaxPool2d</c>); the stride defaults to the kernel size.</summary>
public sealed class MaxPool2d<T>(Size2 kernelSize, Size2? stride = null, Size2? padding = null, Size2? dilation = null, bool ceilMode = false) : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public Size2 KernelSize { get; } = kernelSize;

    public Size2 Stride { get; } = stride ?? kernelSize;

    public Size2 Padding { get; } = padding ?? new Size2(0, 0);

    public Size2 Dilation { get; } = dilation ?? new Size2(1, 1);

    public bool CeilMode { get; } = ceilMode;

    protected override Tensor<T> ForwardCore(Tensor<T> input) =>
        input.MaxPool2d(KernelSize, Stride, Padding, Dilation, CeilMode);

    protected override string ExtraRepr() =>
        $"kernel_size={KernelSize}, stride={Stride}, padding={Padding}, dilation={Dilation}, ceil_mode={(CeilMode ? "True" : "False")}";
}
