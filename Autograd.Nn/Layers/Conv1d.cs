using System.Numerics;

namespace Autograd.Nn;

/// <summary>
/// 1-D convolution over [N, C, L] (or unbatched [C, L]) (PyTorch's <c>nn.Conv1d</c>): weight [F, C/groups, K] and
/// bias [F], initialised as PyTorch does, applied with <c>Tensor.Conv1d</c>.
/// </summary>
public sealed class Conv1d<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public Conv1d(
        int inChannels, int outChannels, int kernelSize, int stride = 1, Padding1d? padding = null,
        int dilation = 1, int groups = 1, bool bias = true, Generator? generator = null)
    {
        if (inChannels < 1 || outChannels < 1 || groups < 1 || kernelSize < 1 || stride < 1 || dilation < 1)
        {
            throw new ArgumentException($"Conv1d: channels, groups, kernel size, stride and dilation must be positive, got in_channels {inChannels}, out_channels {outChannels}, groups {groups}, kernel_size {kernelSize}, stride {stride}, dilation {dilation}.", nameof(inChannels));
        }

        if (inChannels % groups != 0 || outChannels % groups != 0)
        {
            throw new ArgumentException($"Conv1d: groups {groups} must divide in_channels {inChannels} and out_channels {outChannels}.", nameof(groups));
        }

        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Stride = stride;
        Padding = padding ?? 0;
        Dilation = dilation;
        Groups = groups;
        // PyTorch's _ConvNd.reset_parameters: kaiming_uniform(a=√5) = U(±1/√fan_in) for W, U(±1/√fan_in) for b.
        Weight = RegisterParameter("weight", Init.DefaultWeight(Tensor.Zeros<T>(outChannels, inChannels / groups, kernelSize), generator))!;
        Bias = RegisterParameter("bias", bias ? Init.DefaultBias(Tensor.Zeros<T>(outChannels), inChannels / groups * kernelSize, generator) : null);
    }

    public int InChannels { get; }

    public int OutChannels { get; }

    public int KernelSize { get; }

    public int Stride { get; }

    public Padding1d Padding { get; }

    public int Dilation { get; }

    public int Groups { get; }

    /// <summary>[F, C/groups, K].</summary>
    public Tensor<T> Weight { get; }

    /// <summary>[F], or null.</summary>
    public Tensor<T>? Bias { get; }

    protected override Tensor<T> ForwardCore(Tensor<T> input) =>
        input.Conv1d(Weight, Bias, Stride, Padding, Dilation, Groups);

    /// <summary>PyTorch's: <c>3, 4, kernel_size=(3,), stride=(2,), padding=(1,)</c>.</summary>
    protected override string ExtraRepr()
    {
        var s = $"{InChannels}, {OutChannels}, kernel_size=({KernelSize},), stride=({Stride},)";
        if (Padding != 0)
        {
            s += $", padding={Padding}";
        }

        if (Dilation != 1)
        {
            s += $", dilation=({Dilation},)";
        }

        if (Groups != 1)
        {
            s += $", groups={Groups}";
        }

        return Bias is null ? s + ", bias=False" : s;
    }
}
