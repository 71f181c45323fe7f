using System.Buffers;
using System.Numerics;
using Autograd.Nn;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd.Optim;

/// <summary>Hyper-parameters of <see cref="Adagrad{T}"/> (PyTorch's defaults).</summary>
public sealed record AdagradOptions : OptimizerOptions
{
    public AdagradOptions()
    {
        Lr = 1e-2;
    }

    /// <summary>The rate at step t is lr / (1 + (t − 1)·lrDecay).</summary>
    public double LrDecay { get; init; }

    /// <summary>L2 penalty: wd·p is added to the gradient.</summary>
    public double WeightDecay { get; init; }

    /// <summary>The value the sum of squared gradients starts from.</summary>
    public double InitialAccumulatorValue { get; init; }

    /// <summary>Added to the denominator for numerical stability.</summary>
    public double Eps { get; init; } = 1e-10;

    /// <summary>Ascend instead of descend.</summary>
    public bool Maximize { get; init; }

    internal override void Validate(string optimizer)
    {
        base.Validate(optimizer);
        RequireNonNegative(optimizer, ("lr decay", LrDecay), ("weight decay", WeightDecay), ("initial accumulator value", InitialAccumulatorValue), ("eps", Eps));
    }
}

/// <summary>Adagrad's state of one parameter (PyTorch's keys): the step count and the sum of squared gradients.</summary>
public sealed class AdagradState<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public long Step { get; internal set; }

    /// <summary>s, the running sum of g² (from the initial accumulator value); null before the first step.</summary>
    public Tensor<T>? Sum { get; internal set; }
}

/// <summary>
/// Adagrad (Duchi, Hazan and Singer, 2011) with PyTorch's update (<c>torch/optim/adagrad.py</c>), for each parameter
/// p with gradient g at step t:
/// <code>
/// g ← −g if maximize;  g ← g + wd·p
/// s ← s + g²                       (s starts at initialAccumulatorValue)
/// p ← p − lr / (1 + (t − 1)·lrDecay) · g / (√s + eps)
/// </code>
/// </summary>
public sealed class Adagrad<T> : Optimizer<T, AdagradOptions, AdagradState<T>>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public Adagrad(IEnumerable<Tensor<T>> parameters, double lr = 1e-2, double lrDecay = 0, double weightDecay = 0, double initialAccumulatorValue = 0, double eps = 1e-10, bool maximize = false)
        : this([new ParamGroup<T>(parameters)], new AdagradOptions { Lr = lr, LrDecay = lrDecay, WeightDecay = weightDecay, InitialAccumulatorValue = initialAccumulatorValue, Eps = eps, Maximize = maximize })
    {
    }

    public Adagrad(IEnumerable<ParamGroup<T>> groups, AdagradOptions defaults)
        : base(groups, defaults)
    {
    }

    protected override string Name => "Adagrad";

    protected override AdagradState<T> CreateState(Tensor<T> parameter) => new();

    protected override void SaveState(AdagradState<T> state, ParameterState<T> entry)
    {
        entry.Scalars["step"] = state.Step;
        entry.Add("sum", state.Sum);
    }

    protected override AdagradState<T> LoadState(Tensor<T> parameter, ParameterState<T> entry) =>
        new() { Step = entry.GetCount("step"), Sum = entry.GetTensor("sum", parameter, required: false) };

    protected override void Update(Tensor<T> parameter, Span<T> param, ReadOnlySpan<T> grad, AdagradState<T> state, AdagradOptions o)
    {
        var n = param.Length;
        var rented = ArrayPool<T>.Shared.Rent(2 * n);
        try
        {
            var g = rented.AsSpan(0, n);
            var std = rented.AsSpan(n, n);
            state.Step++;
            Optimizers.DecayedGradient(param, grad, g, o.Maximize, o.WeightDecay);
            var clr = o.Lr / (1 + (state.Step - 1) * o.LrDecay);
            state.Sum ??= Tensor.Full(parameter.Shape, T.CreateChecked(o.InitialAccumulatorValue));
            using (var sw = TensorMemory.Writable(state.Sum, Name, "sum"))
            {
                var s = sw.Elements;
                TP.MultiplyAdd(g, g, s, s);
                TP.Sqrt(s, std);
            }

            TensorMemory.Written(state.Sum);
            TP.Add(std, T.CreateChecked(o.Eps), std);
            TP.Divide(g, std, std);
            TP.MultiplyAdd(std, T.CreateChecked(-clr), param, param);
        }
        finally
        {
            ArrayPool<T>.Shared.Return(rented);
        }
    }
}
