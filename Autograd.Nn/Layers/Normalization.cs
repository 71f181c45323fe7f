using System.Globalization;
using System.Numerics;

namespace Autograd.Nn;

/// <summary>
/// Batch normalisation over the channels of [N, C, H, W] (PyTorch's <c>nn.BatchNorm2d</c>), through the
/// <c>Tensor.BatchNorm2d</c> op. Parameters <c>weight</c> (ones) and <c>bias</c> (zeros) when affine;
/// buffers <c>running_mean</c> (zeros) and <c>running_var</c> (ones) when tracking running statistics.
/// Training mode normalises with the batch statistics and updates the running ones in place
/// (running ← (1 − momentum)·running + momentum·batch); evaluation mode uses the running ones.
/// </summary>
/// <remarks>
/// PyTorch also keeps an int64 <c>num_batches_tracked</c>, used only when momentum is None (a
/// cumulative average); it is not kept here, so a PyTorch checkpoint loads with <c>strict: false</c>
/// (it is the one unexpected key per layer).
/// </remarks>
public sealed class BatchNorm2d<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public BatchNorm2d(int numFeatures, double eps = 1e-5, double momentum = 0.1, bool affine = true, bool trackRunningStats = true)
    {
        if (numFeatures < 1 || !(eps > 0) || !(momentum >= 0 && momentum <= 1))
        {
            throw new ArgumentException($"BatchNorm2d: num_features must be positive, eps positive and momentum in [0, 1], got {numFeatures}, {eps}, {momentum}.", nameof(numFeatures));
        }

        NumFeatures = numFeatures;
        Eps = eps;
        Momentum = momentum;
        Weight = RegisterParameter("weight", affine ? Tensor.Ones<T>(numFeatures) : null);
        Bias = RegisterParameter("bias", affine ? Tensor.Zeros<T>(numFeatures) : null);
        RunningMean = RegisterBuffer("running_mean", trackRunningStats ? Tensor.Zeros<T>(numFeatures) : null);
        RunningVar = RegisterBuffer("running_var", trackRunningStats ? Tensor.Ones<T>(numFeatures) : null);
    }

    public int NumFeatures { get; }

    public double Eps { get; }

    public double Momentum { get; }

    public Tensor<T>? Weight { get; }

    public Tensor<T>? Bias { get; }

    public Tensor<T>? RunningMean { get; }

    public Tensor<T>? RunningVar { get; }

    /// <summary>Batch statistics in training mode, and always when no running statistics are tracked (PyTorch's rule).</summary>
    protected override Tensor<T> ForwardCore(Tensor<T> input) =>
        input.BatchNorm2d(RunningMean, RunningVar, Weight, Bias, training: Training || RunningMean is null, Momentum, Eps);

    protected override string ExtraRepr() =>
        string.Create(CultureInfo.InvariantCulture, $"{NumFeatures}, eps={PyRepr.Float(Eps)}, momentum={Momentum}, affine={(Weight is null ? "False" : "True")}, track_running_stats={(RunningMean is null ? "False" : "True")}");
}

/// <summary>
/// Layer normalisation over the trailing dimensions <c>normalizedShape</c> (PyTorch's <c>nn.LayerNorm</c>),
/// through the <c>Tensor.LayerNorm</c> op; with <c>elementwiseAffine</c>, parameters <c>weight</c> (ones)
/// and <c>bias</c> (zeros) of that shape.
/// </summary>
public sealed class LayerNorm<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int[] _normalizedShape;

    public LayerNorm(int[] normalizedShape, double eps = 1e-5, bool elementwiseAffine = true, bool bias = true)
    {
        ArgumentNullException.ThrowIfNull(normalizedShape);
        if (normalizedShape.Length == 0 || normalizedShape.Any(d => d < 1) || !(eps > 0))
        {
            throw new ArgumentException($"LayerNorm: normalized_shape must be non-empty with positive sizes and eps positive, got {ShapeMath.Format(normalizedShape)}, eps {eps}.", nameof(normalizedShape));
        }

        _normalizedShape = (int[])normalizedShape.Clone();
        Eps = eps;
        Weight = RegisterParameter("weight", elementwiseAffine ? Tensor.Ones<T>(normalizedShape) : null);
        Bias = RegisterParameter("bias", elementwiseAffine && bias ? Tensor.Zeros<T>(normalizedShape) : null);
    }

    /// <summary>Over the last dimension only.</summary>
    public LayerNorm(int normalizedShape, double eps = 1e-5, bool elementwiseAffine = true, bool bias = true)
        : this([normalizedShape], eps, elementwiseAffine, bias)
    {
    }

    public int[] NormalizedShape => (int[])_normalizedShape.Clone();

    public double Eps { get; }

    public Tensor<T>? Weight { get; }

    public Tensor<T>? Bias { get; }

    protected override Tensor<T> ForwardCore(Tensor<T> input) => input.LayerNorm(_normalizedShape, Weight, Bias, Eps);

    protected override string ExtraRepr() =>
        string.Create(CultureInfo.InvariantCulture, $"({string.Join(", ", _normalizedShape)}{(_normalizedShape.Length == 1 ? "," : "")}), eps={PyRepr.Float(Eps)}, elementwise_affine={(Weight is null ? "False" : "True")}");
}
