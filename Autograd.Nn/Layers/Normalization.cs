using System.Globalization;
using System.Numerics;

namespace Autograd.Nn;

/// <summary>
/// What BatchNorm1d and BatchNorm2d share (PyTorch's <c>_BatchNorm</c>): parameters <c>weight</c> (ones) and
/// <c>bias</c> (zeros) when affine; buffers <c>running_mean</c> (zeros), <c>running_var</c> (ones) and
/// <c>num_batches_tracked</c> (a scalar 0) when tracking running statistics, so the state dict has PyTorch's keys.
/// Training mode normalises with the batch statistics and updates the running ones in place
/// (running ← (1 − momentum)·running + momentum·batch, the unbiased variance for running_var) and counts the
/// batch; evaluation mode uses the running ones. With <c>momentum: null</c> the factor is 1/num_batches_tracked,
/// a cumulative average of every batch seen (PyTorch's <c>momentum=None</c>).
/// </summary>
/// <remarks>
/// PyTorch's <c>num_batches_tracked</c> is int64; here it is a scalar of the module's element type (tensors
/// hold float or double), saved as such. PyTorch's <c>load_state_dict</c> casts it back when it copies.
/// </remarks>
public abstract class BatchNorm<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private protected BatchNorm(int numFeatures, double eps, double? momentum, bool affine, bool trackRunningStats)
    {
        if (numFeatures < 1 || !(eps > 0) || momentum is not null && !(momentum >= 0 && momentum <= 1))
        {
            throw new ArgumentException($"{DisplayName}: num_features must be positive, eps positive and momentum in [0, 1] or null, got {numFeatures}, {eps}, {momentum?.ToString(CultureInfo.InvariantCulture) ?? "null"}.", nameof(numFeatures));
        }

        NumFeatures = numFeatures;
        Eps = eps;
        Momentum = momentum;
        Weight = RegisterParameter("weight", affine ? Tensor.Ones<T>(numFeatures) : null);
        Bias = RegisterParameter("bias", affine ? Tensor.Zeros<T>(numFeatures) : null);
        RunningMean = RegisterBuffer("running_mean", trackRunningStats ? Tensor.Zeros<T>(numFeatures) : null);
        RunningVar = RegisterBuffer("running_var", trackRunningStats ? Tensor.Ones<T>(numFeatures) : null);
        NumBatchesTracked = RegisterBuffer("num_batches_tracked", trackRunningStats ? Tensor.Zeros<T>() : null);
    }

    public int NumFeatures { get; }

    public double Eps { get; }

    /// <summary>The running statistics' update factor, or null for a cumulative average.</summary>
    public double? Momentum { get; }

    public Tensor<T>? Weight { get; }

    public Tensor<T>? Bias { get; }

    public Tensor<T>? RunningMean { get; }

    public Tensor<T>? RunningVar { get; }

    /// <summary>How many training batches updated the running statistics (a scalar; PyTorch's int64 buffer).</summary>
    public Tensor<T>? NumBatchesTracked { get; }

    /// <summary>Batch statistics in training mode, and always when no running statistics are tracked (PyTorch's rule).</summary>
    protected sealed override Tensor<T> ForwardCore(Tensor<T> input)
    {
        var factor = Momentum ?? 0.0;
        if (Training && NumBatchesTracked is not null)
        {
            using (Tensor.NoGrad())
            {
                NumBatchesTracked.AddInPlace(T.One);
            }

            factor = Momentum ?? 1.0 / double.CreateChecked(NumBatchesTracked.Item());
        }

        return Normalize(input, Training || RunningMean is null, factor);
    }

    /// <summary>The functional op of the subclass (which checks the input's rank).</summary>
    private protected abstract Tensor<T> Normalize(Tensor<T> input, bool training, double momentum);

    protected override string ExtraRepr() =>
        string.Create(CultureInfo.InvariantCulture, $"{NumFeatures}, eps={PyRepr.Float(Eps)}, momentum={(Momentum is { } m ? PyRepr.Float(m) : "None")}, affine={(Weight is null ? "False" : "True")}, track_running_stats={(RunningMean is null ? "False" : "True")}");
}

/// <summary>
/// Batch normalisation over the channels of [N, C] or [N, C, L] (PyTorch's <c>nn.BatchNorm1d</c>), through the
/// <c>Tensor.BatchNorm1d</c> op; parameters, buffers and modes as <see cref="BatchNorm{T}"/>.
/// </summary>
public sealed class BatchNorm1d<T> : BatchNorm<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public BatchNorm1d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true)
        : base(numFeatures, eps, momentum, affine, trackRunningStats)
    {
    }

    private protected override Tensor<T> Normalize(Tensor<T> input, bool training, double momentum) =>
        input.BatchNorm1d(RunningMean, RunningVar, Weight, Bias, training, momentum, Eps);
}

/// <summary>
/// Batch normalisation over the channels of [N, C, H, W] (PyTorch's <c>nn.BatchNorm2d</c>), through the
/// <c>Tensor.BatchNorm2d</c> op; parameters, buffers and modes as <see cref="BatchNorm{T}"/>.
/// </summary>
public sealed class BatchNorm2d<T> : BatchNorm<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public BatchNorm2d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true)
        : base(numFeatures, eps, momentum, affine, trackRunningStats)
    {
    }

    private protected override Tensor<T> Normalize(Tensor<T> input, bool training, double momentum) =>
        input.BatchNorm2d(RunningMean, RunningVar, Weight, Bias, training, momentum, Eps);
}

/// <summary>
/// Group normalisation (PyTorch's <c>nn.GroupNorm</c>) of [N, C, *] through the <c>Tensor.GroupNorm</c> op: the
/// channels in <c>numGroups</c> groups, each (sample, group) standardised over its channels and positions; with
/// <c>affine</c>, per-channel parameters <c>weight</c> (ones) and <c>bias</c> (zeros). No running statistics:
/// the same in training and evaluation, and independent of the batch size.
/// </summary>
public sealed class GroupNorm<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public GroupNorm(int numGroups, int numChannels, double eps = 1e-5, bool affine = true)
    {
        if (numGroups < 1 || numChannels < 1 || numChannels % numGroups != 0)
        {
            throw new ArgumentException($"GroupNorm: num_groups must be positive and divide num_channels, got num_groups {numGroups}, num_channels {numChannels}.", nameof(numGroups));
        }

        if (!(eps > 0))
        {
            throw new ArgumentException($"GroupNorm: eps must be positive, got {eps} (num_groups {numGroups}, num_channels {numChannels}).", nameof(eps));
        }

        NumGroups = numGroups;
        NumChannels = numChannels;
        Eps = eps;
        Weight = RegisterParameter("weight", affine ? Tensor.Ones<T>(numChannels) : null);
        Bias = RegisterParameter("bias", affine ? Tensor.Zeros<T>(numChannels) : null);
    }

    public int NumGroups { get; }

    public int NumChannels { get; }

    public double Eps { get; }

    public Tensor<T>? Weight { get; }

    public Tensor<T>? Bias { get; }

    protected override Tensor<T> ForwardCore(Tensor<T> input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank < 2 || input.ShapeArray[1] != NumChannels)
        {
            throw new ArgumentException($"GroupNorm: expected input [N, {NumChannels}, *], got {ShapeMath.Format(input.ShapeArray)}.", nameof(input));
        }

        return input.GroupNorm(NumGroups, Weight, Bias, Eps);
    }

    protected override string ExtraRepr() =>
        string.Create(CultureInfo.InvariantCulture, $"{NumGroups}, {NumChannels}, eps={PyRepr.Float(Eps)}, affine={(Weight is null ? "False" : "True")}");
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
