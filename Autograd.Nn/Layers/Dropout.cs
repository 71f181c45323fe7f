using System.Numerics;

namespace Autograd.Nn;

/// <summary>
/// In training mode, zeroes each element with probability p and scales the rest by 1/(1 − p), so
/// the expected value is unchanged (PyTorch's <c>nn.Dropout</c>, "inverted" dropout, through the
/// <c>Tensor.Dropout</c> op); the identity in evaluation mode. The mask is drawn from the
/// constructor's generator (the default generator when null), so a seeded generator gives the same
/// masks every run.
/// </summary>
public sealed class Dropout<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Generator? _generator;

    public Dropout(double p = 0.5, Generator? generator = null)
    {
        if (!(p >= 0 && p <= 1))
        {
            throw new ArgumentException($"Dropout: probability must be in [0, 1], got {p}.", nameof(p));
        }

        P = p;
        _generator = generator;
    }

    /// <summary>Probability of zeroing an element.</summary>
    public double P { get; }

    protected override Tensor<T> ForwardCore(Tensor<T> input) => input.Dropout(P, Training, _generator);

    protected override string ExtraRepr() => $"p={P}";
}

/// <summary>
/// Channel dropout (PyTorch's <c>nn.Dropout2d</c>) of [N, C, H, W] or [C, H, W], through the
/// <c>Tensor.Dropout2d</c> op: in training mode each whole channel is zeroed with probability p and the rest
/// scaled by 1/(1 − p); the identity in evaluation mode. The masks come from the constructor's generator (the
/// default generator when null).
/// </summary>
public sealed class Dropout2d<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Generator? _generator;

    public Dropout2d(double p = 0.5, Generator? generator = null)
    {
        if (!(p >= 0 && p <= 1))
        {
            throw new ArgumentException($"Dropout2d: probability must be in [0, 1], got {p}.", nameof(p));
        }

        P = p;
        _generator = generator;
    }

    /// <summary>Probability of zeroing a channel.</summary>
    public double P { get; }

    protected override Tensor<T> ForwardCore(Tensor<T> input) => input.Dropout2d(P, Training, _generator);

    protected override string ExtraRepr() => $"p={PyRepr.Float(P)}, inplace=False";
}
