using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd.Nn;

/// <summary>
/// A loss as a module (PyTorch's <c>nn._Loss</c>, TorchSharp's <c>Loss</c>): <c>criterion.Forward(input, target)</c>
/// runs the functional op of the same name with the arguments given to the constructor. A module, so a model
/// can register it and print it; its one-argument <c>Forward</c> does not compile (and throws when reached
/// through a <see cref="Module{T}"/> reference).
/// </summary>
/// <typeparam name="T">Element type of the input.</typeparam>
/// <typeparam name="TTarget">What the loss compares the input with: class indices or a tensor.</typeparam>
public abstract class Loss<T, TTarget> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
    where TTarget : class
{
    private protected Loss(Reduction reduction)
    {
        if (!Enum.IsDefined(reduction))
        {
            throw new ArgumentException($"{DisplayName}: reduction must be None, Mean or Sum, got {reduction}.", nameof(reduction));
        }

        Reduction = reduction;
    }

    /// <summary>How the per-element losses are reduced (PyTorch's <c>reduction</c>: 'none', 'mean', 'sum').</summary>
    public Reduction Reduction { get; }

    /// <summary>The loss of <paramref name="input"/> against <paramref name="target"/>.</summary>
    /// <param name="input">The model's output.</param>
    /// <param name="target">What it should have been.</param>
    /// <param name="callerFile">Filled in by the compiler: the calling file, kept on the tape nodes.</param>
    /// <param name="callerLine">Filled in by the compiler: the calling line, kept on the tape nodes.</param>
    public Tensor<T> Forward(Tensor<T> input, TTarget target, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(target);
        using var site = EnterForward(callerFile, callerLine);
        return ForwardCore(input, target);
    }

    /// <summary>A loss needs a target: call <see cref="Forward(Tensor{T}, TTarget, string, int)"/>.</summary>
    [Obsolete("A loss takes the input and the target: Forward(input, target).", error: true)]
    public new Tensor<T> Forward(Tensor<T> input, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
        base.Forward(input, callerFile, callerLine);

    /// <summary>The loss computation; callers use <see cref="Forward(Tensor{T}, TTarget, string, int)"/>.</summary>
    protected abstract Tensor<T> ForwardCore(Tensor<T> input, TTarget target);

    protected sealed override Tensor<T> ForwardCore(Tensor<T> input) =>
        throw new InvalidOperationException($"{DisplayName}: a loss takes the input and the target: Forward(input, target), got only an input {ShapeMath.Format(input.Shape)}.");
}

/// <summary>
/// Cross-entropy of logits [N, C], [N, C, d1, …] or [C] against class indices (PyTorch's <c>nn.CrossEntropyLoss</c>),
/// through the <c>Tensor.CrossEntropy</c> op: class <c>weight</c> (a buffer, as in PyTorch), <c>ignoreIndex</c>,
/// <c>reduction</c> and <c>labelSmoothing</c> as there. PyTorch's class-probability targets are not supported
/// (the op takes indices).
/// </summary>
public sealed class CrossEntropyLoss<T> : Loss<T, int[]>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public CrossEntropyLoss(Tensor<T>? weight = null, int ignoreIndex = -100, Reduction reduction = Reduction.Mean, double labelSmoothing = 0.0)
        : base(reduction)
    {
        if (weight is { Rank: not 1 })
        {
            throw new ArgumentException($"CrossEntropyLoss: weight must be 1-D with one entry per class, got shape {ShapeMath.Format(weight.Shape)}.", nameof(weight));
        }

        if (!(labelSmoothing >= 0.0 && labelSmoothing <= 1.0))
        {
            throw new ArgumentException($"CrossEntropyLoss: label_smoothing must be in [0, 1], got {labelSmoothing}.", nameof(labelSmoothing));
        }

        // A buffer (PyTorch's register_buffer('weight', weight)): in the state dict, never trained.
        Weight = RegisterBuffer("weight", weight?.Detach());
        IgnoreIndex = ignoreIndex;
        LabelSmoothing = labelSmoothing;
    }

    /// <summary>Per-class weights [C] (sharing storage with the tensor given), or null.</summary>
    public Tensor<T>? Weight { get; }

    /// <summary>Targets equal to it add nothing to the loss nor to the mean's count.</summary>
    public int IgnoreIndex { get; }

    public double LabelSmoothing { get; }

    protected override Tensor<T> ForwardCore(Tensor<T> input, int[] target) =>
        input.CrossEntropy(target, Weight, IgnoreIndex, Reduction, LabelSmoothing);
}

/// <summary>Mean squared error (PyTorch's <c>nn.MSELoss</c>) through the <c>Tensor.MseLoss</c> op; input and target have the same shape.</summary>
public sealed class MSELoss<T>(Reduction reduction = Reduction.Mean) : Loss<T, Tensor<T>>(reduction)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    protected override Tensor<T> ForwardCore(Tensor<T> input, Tensor<T> target) => input.MseLoss(target, Reduction);
}
