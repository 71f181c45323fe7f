using System.Numerics;

namespace Autograd.Nn;

/// <summary>max(x, 0) elementwise (PyTorch's <c>nn.ReLU</c>).</summary>
public sealed class ReLU<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    protected override Tensor<T> ForwardCore(Tensor<T> input) => input.Relu();
}

/// <summary>tanh elementwise (PyTorch's <c>nn.Tanh</c>).</summary>
public sealed class Tanh<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    protected override Tensor<T> ForwardCore(Tensor<T> input) => input.Tanh();
}

/// <summary>1 / (1 + e^−x) elementwise (PyTorch's <c>nn.Sigmoid</c>).</summary>
public sealed class Sigmoid<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    protected override Tensor<T> ForwardCore(Tensor<T> input) => input.Sigmoid();
}

/// <summary>Flattens dimensions startDim..endDim into one (PyTorch's <c>nn.Flatten</c>; by default all but the batch dimension). A view when the strides allow.</summary>
public sealed class Flatten<T>(int startDim = 1, int endDim = -1) : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public int StartDim { get; } = startDim;

    public int EndDim { get; } = endDim;

    protected override Tensor<T> ForwardCore(Tensor<T> input) => input.Flatten(StartDim, EndDim);

    protected override string ExtraRepr() => $"start_dim={StartDim}, end_dim={EndDim}";
}
