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

/// <summary>
/// GELU, x·Φ(x) (PyTorch's <c>nn.GELU</c>): exact with <c>approximate: "none"</c>, or PyTorch's tanh
/// approximation with <c>"tanh"</c> (GPT-2's), through the <c>Tensor.Gelu</c> op.
/// </summary>
public sealed class GELU<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public GELU(string approximate = "none")
    {
        ArgumentNullException.ThrowIfNull(approximate);
        if (approximate is not ("none" or "tanh"))
        {
            throw new ArgumentException($"GELU: approximate must be \"none\" or \"tanh\", got \"{approximate}\".", nameof(approximate));
        }

        Approximate = approximate;
    }

    /// <summary>"none" or "tanh".</summary>
    public string Approximate { get; }

    protected override Tensor<T> ForwardCore(Tensor<T> input) => input.Gelu(Approximate);

    protected override string ExtraRepr() => $"approximate='{Approximate}'";
}

/// <summary>x where x &gt; 0, else negativeSlope·x (PyTorch's <c>nn.LeakyReLU</c>), through the <c>Tensor.LeakyRelu</c> op.</summary>
public sealed class LeakyReLU<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public LeakyReLU(double negativeSlope = 0.01)
    {
        if (!double.IsFinite(negativeSlope))
        {
            throw new ArgumentException($"LeakyReLU: negative_slope must be finite, got {negativeSlope}.", nameof(negativeSlope));
        }

        NegativeSlope = negativeSlope;
    }

    public double NegativeSlope { get; }

    protected override Tensor<T> ForwardCore(Tensor<T> input) => input.LeakyRelu(NegativeSlope);

    protected override string ExtraRepr() => $"negative_slope={PyRepr.Float(NegativeSlope)}";
}

/// <summary>
/// exp(x) / Σ exp(x) along <c>dim</c> (PyTorch's <c>nn.Softmax</c>), through the <c>Tensor.Softmax</c> op.
/// The dimension is required (PyTorch's implicit choice when it is None is deprecated); a negative one
/// counts from the end and is checked against the input's rank at each forward.
/// </summary>
public sealed class Softmax<T>(int dim) : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Dim { get; } = dim;

    protected override Tensor<T> ForwardCore(Tensor<T> input) => input.Softmax(Dim);

    protected override string ExtraRepr() => $"dim={Dim}";
}
