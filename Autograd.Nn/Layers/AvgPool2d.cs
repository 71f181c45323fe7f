using System.Numerics;

namespace Autograd.Nn;

/// <summary>Average pooling over [N, C, H, W] windows (PyTorch's <c>nn.AvgPool2d</c>); the stride defaults to the kernel size.</summary>
public sealed class AvgPool2d<T>(Size2 kernelSize, Size2? stride = null, Size2? padding = null, bool ceilMode = false, bool countIncludePad = true, int? divisorOverride = null) : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public Size2 KernelSize { get; } = kernelSize;

    public Size2 Stride { get; } = stride ?? kernelSize;

    public Size2 Padding { get; } = padding ?? new Size2(0, 0);

    public bool CeilMode { get; } = ceilMode;

    public bool CountIncludePad { get; } = countIncludePad;

    public int? DivisorOverride { get; } = divisorOverride;

    protected override Tensor<T> ForwardCore(Tensor<T> input) =>
        input.AvgPool2d(KernelSize, Stride, Padding, CeilMode, CountIncludePad, DivisorOverride);

    protected override string ExtraRepr() => $"kernel_size={KernelSize}, stride={Stride}, padding={Padding}";
}

/// <summary>Average pooling to a fixed output size whatever the input size (PyTorch's <c>nn.AdaptiveAvgPool2d</c>).</summary>
public sealed class AdaptiveAvgPool2d<T>(Size2 outputSize) : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public Size2 OutputSize { get; } = outputSize;

    protected override Tensor<T> ForwardCore(Tensor<T> input) => input.AdaptiveAvgPool2d(OutputSize);

    protected override string ExtraRepr() => $"output_size={OutputSize}";
}
