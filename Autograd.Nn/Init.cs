using System.Numerics;

namespace Autograd.Nn;

/// <summary>Which fan a Kaiming initialisation preserves the variance of (PyTorch's <c>mode</c>).</summary>
public enum FanMode
{
    /// <summary>Preserves the variance of activations in the forward pass.</summary>
    FanIn,

    /// <summary>Preserves the variance of gradients in the backward pass.</summary>
    FanOut,
}

/// <summary>The nonlinearity a gain is computed for (PyTorch's <c>calculate_gain</c>).</summary>
public enum Nonlinearity
{
    Linear,
    Conv2d,
    Sigmoid,
    Tanh,
    Relu,
    LeakyRelu,
    Selu,
}

/// <summary>
/// Weight initialisation in place (PyTorch's <c>torch.nn.init</c>), from a seedable
/// <see cref="Generator"/> (the default generator when none is given). Each function fills the
/// tensor under no-grad, bumps its version and returns it.
/// </summary>
public static class Init
{
    /// <summary>
    /// The recommended gain for a nonlinearity: 1 for linear, conv and sigmoid, 5/3 for tanh, √2 for
    /// ReLU, √(2 / (1 + a²)) for leaky ReLU with negative slope <paramref name="param"/> (0.01 when
    /// null), 3/4 for SELU.
    /// </summary>
    public static double CalculateGain(Nonlinearity nonlinearity, double? param = null) => nonlinearity switch
    {
        Nonlinearity.Linear or Nonlinearity.Conv2d or Nonlinearity.Sigmoid => 1.0,
        Nonlinearity.Tanh => 5.0 / 3.0,
        Nonlinearity.Relu => Math.Sqrt(2.0),
        Nonlinearity.LeakyRelu => Math.Sqrt(2.0 / (1 + (param ?? 0.01) * (param ?? 0.01))),
        Nonlinearity.Selu => 0.75,
        _ => throw new ArgumentOutOfRangeException(nameof(nonlinearity), nonlinearity, "CalculateGain: unknown nonlinearity."),
    };

    /// <summary>
    /// (fan_in, fan_out) of a weight: dimension 1 and dimension 0 times the receptive field (the
    /// product of the dimensions after the first two). A Linear weight [out, in] has fan_in = in; a
    /// Conv2d weight [F, C/groups, KH, KW] has fan_in = C/groups·KH·KW.
    /// </summary>
    public static (int FanIn, int FanOut) CalculateFanInAndFanOut<T>(Tensor<T> tensor)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var shape = tensor.Shape;
        if (shape.Length < 2)
        {
            throw new ArgumentException($"Init: fan in and fan out need a tensor with at least 2 dimensions, got shape {ShapeMath.Format(shape)}.", nameof(tensor));
        }

        var receptive = 1;
        for (var i = 2; i < shape.Length; i++)
        {
            receptive *= shape[i];
        }

        return (shape[1] * receptive, shape[0] * receptive);
    }

    /// <summary>Fills with U(<paramref name="low"/>, <paramref name="high"/>).</summary>
    public static Tensor<T> Uniform<T>(Tensor<T> tensor, double low = 0, double high = 1, Generator? generator = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(low <= high) || !double.IsFinite(low) || !double.IsFinite(high))
        {
            throw new ArgumentException($"Init.Uniform: bounds must be finite with low <= high, got ({low}, {high}).", nameof(low));
        }

        return Fill(tensor, generator, g => low + (high - low) * g.NextDouble());
    }

    /// <summary>Fills with N(<paramref name="mean"/>, <paramref name="std"/>²).</summary>
    public static Tensor<T> Normal<T>(Tensor<T> tensor, double mean = 0, double std = 1, Generator? generator = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(std >= 0) || !double.IsFinite(std) || !double.IsFinite(mean))
        {
            throw new ArgumentException($"Init.Normal: mean must be finite and std finite and non-negative, got mean {mean}, std {std}.", nameof(std));
        }

        return Fill(tensor, generator, g => mean + std * g.NextNormal());
    }

    /// <summary>Fills with a constant.</summary>
    public static Tensor<T> Constant<T>(Tensor<T> tensor, double value)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Fill(tensor, null, _ => value);

    public static Tensor<T> Zeros<T>(Tensor<T> tensor)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Constant(tensor, 0);

    public static Tensor<T> Ones<T>(Tensor<T> tensor)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Constant(tensor, 1);

    /// <summary>
    /// He et al. (2015), uniform: U(−bound, bound) with bound = gain·√(3 / fan), gain =
    /// <see cref="CalculateGain"/>(nonlinearity, a).
    /// </summary>
    /// <remarks>
    /// PyTorch's Linear and Conv2d call this with a = √5 and leaky ReLU, which readers take for a
    /// deliberate "√5 gain" (PyTorch issue #19376). It is not: gain = √(2 / (1 + 5)) = √(1/3), so
    /// bound = √(1/3)·√(3 / fan_in) = 1/√fan_in, i.e. the old Lua Torch default U(±1/√fan_in), kept
    /// for compatibility. <see cref="DefaultWeight{T}"/> spells that out.
    /// </remarks>
    public static Tensor<T> KaimingUniform<T>(Tensor<T> tensor, double a = 0, FanMode mode = FanMode.FanIn, Nonlinearity nonlinearity = Nonlinearity.LeakyRelu, Generator? generator = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var std = KaimingStd(tensor, a, mode, nonlinearity);
        var bound = Math.Sqrt(3.0) * std;
        return Uniform(tensor, -bound, bound, generator);
    }

    /// <summary>He et al. (2015), normal: N(0, std²) with std = gain / √fan.</summary>
    public static Tensor<T> KaimingNormal<T>(Tensor<T> tensor, double a = 0, FanMode mode = FanMode.FanIn, Nonlinearity nonlinearity = Nonlinearity.LeakyRelu, Generator? generator = null)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Normal(tensor, 0, KaimingStd(tensor, a, mode, nonlinearity), generator);

    /// <summary>Glorot and Bengio (2010), uniform: U(−b, b) with b = gain·√(6 / (fan_in + fan_out)).</summary>
    public static Tensor<T> XavierUniform<T>(Tensor<T> tensor, double gain = 1, Generator? generator = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (fanIn, fanOut) = CalculateFanInAndFanOut(tensor);
        var bound = gain * Math.Sqrt(6.0 / (fanIn + fanOut));
        return Uniform(tensor, -bound, bound, generator);
    }

    /// <summary>Glorot and Bengio (2010), normal: N(0, std²) with std = gain·√(2 / (fan_in + fan_out)).</summary>
    public static Tensor<T> XavierNormal<T>(Tensor<T> tensor, double gain = 1, Generator? generator = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (fanIn, fanOut) = CalculateFanInAndFanOut(tensor);
        return Normal(tensor, 0, gain * Math.Sqrt(2.0 / (fanIn + fanOut)), generator);
    }

    /// <summary>
    /// PyTorch's default for Linear and Conv2d weights, <c>kaiming_uniform_(w, a=√5)</c>, which is
    /// U(±1/√fan_in) (see <see cref="KaimingUniform{T}"/>).
    /// </summary>
    public static Tensor<T> DefaultWeight<T>(Tensor<T> weight, Generator? generator = null)
        where T : unmanaged, IFloatingPointIeee754<T>
        => KaimingUniform(weight, a: Math.Sqrt(5.0), generator: generator);

    /// <summary>PyTorch's default for Linear and Conv2d biases: U(±1/√fan_in), fan_in from the weight.</summary>
    public static Tensor<T> DefaultBias<T>(Tensor<T> bias, int fanIn, Generator? generator = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var bound = fanIn > 0 ? 1.0 / Math.Sqrt(fanIn) : 0.0;
        return Uniform(bias, -bound, bound, generator);
    }

    private static double KaimingStd<T>(Tensor<T> tensor, double a, FanMode mode, Nonlinearity nonlinearity)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (fanIn, fanOut) = CalculateFanInAndFanOut(tensor);
        var fan = mode == FanMode.FanIn ? fanIn : fanOut;
        if (fan == 0)
        {
            throw new ArgumentException($"Init: cannot initialise a tensor with zero elements (shape {ShapeMath.Format(tensor.Shape)}).", nameof(tensor));
        }

        return CalculateGain(nonlinearity, a) / Math.Sqrt(fan);
    }

    /// <summary>Writes one sample per element, in row-major order, without recording.</summary>
    private static Tensor<T> Fill<T>(Tensor<T> tensor, Generator? generator, Func<Generator, double> sample)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var source = Tensor<T>.Uninitialized(tensor.Shape);
        var g = generator ?? Tensor.DefaultGenerator;
        using (var sw = source.Write())
        {
            var values = sw.Elements;
            lock (g)
            {
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = T.CreateChecked(sample(g));
                }
            }
        }

        using (Tensor.NoGrad())
        {
            tensor.CopyFrom(source);
        }

        return tensor;
    }
}
