using System.Numerics;

namespace Autograd.Nn;

/// <summary>
/// 2-D convolution over [N, C, H, W] (PyTorch's <c>nn.Conv2d</c>): weight [F, C/groups, KH, KW] and
/// bias [F], initialised as PyTorch does, applied with <c>Tensor.Conv2d</c>.
/// </summary>
public sealed class Conv2d<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public Conv2d(
        int inChannels, int outChannels, Size2 kernelSize, Size2? stride = null, Padding2d? padding = null,
        Size2? dilation = null, int groups = 1, bool bias = true, Generator? generator = null)
    {
        if (inChannels < 1 || outChannels < 1 || groups < 1 || !kernelSize.IsPositive)
        {
            throw new ArgumentException($"Conv2d: channels, groups and kernel size must be positive, got in_channels {inChannels}, out_channels {outChannels}, groups {groups}, kernel_size {kernelSize}.", nameof(inChannels));
        }

        if (inChannels % groups != 0 || outChannels % groups != 0)
        {
            throw new ArgumentException($"Conv2d: groups {groups} must divide in_channels {inChannels} and out_channels {outChannels}.", nameof(groups));
        }

        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Stride = stride ?? new Size2(1, 1);
        Padding = padding ?? 0;
        Dilation = dilation ?? new Size2(1, 1);
        Groups = groups;
        var fanIn = inChannels / groups * kernelSize.H * kernelSize.W;
        // PyTorch's _ConvNd.reset_parameters: kaiming_uniform(a=√5) = U(±1/√fan_in) for W, U(±1/√fan_in) for b.
        Weight = RegisterParameter("weight", Init.DefaultWeight(Tensor.Zeros<T>(outChannels, inChannels / groups, kernelSize.H, kernelSize.W), generator))!;
        Bias = RegisterParameter("bias", bias ? Init.DefaultBias(Tensor.Zeros<T>(outChannels), fanIn, generator) : null);
    }

    public int InChannels { get; }

    public int OutChannels { get; }

    public Size2 KernelSize { get; }

    public Size2 Stride { get; }

    public Padding2d Padding { get; }

    public Size2 Dilation { get; }

    public int Groups { get; }

    /// <summary>[F, C/groups, KH, KW].</summary>
    public Tensor<T> Weight { get; }

    /// <summary>[F], or null.</summary>
    public Tensor<T>? Bias { get; }

    protected override Tensor<T> ForwardCore(Tensor<T> input) =>
        input.Conv2d(Weight, Bias, Stride, Padding, Dilation, Groups);

    protected override string ExtraRepr()
    {
        var s = $"{InChannels}, {OutChannels}, kernel_size={KernelSize}, stride={Stride}";
        if (Padding != new Padding2d())
        {
            s += $", padding={Padding}";
        }

        if (Dilation != new Size2(1, 1))
        {
            s += $", dilation={Dilation}";
        }

        if (Groups != 1)
        {
            s += $", groups={Groups}";
        }

        return Bias is null ? s + ", bias=False" : s;
    }
}
