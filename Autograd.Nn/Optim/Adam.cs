using System.Buffers;
using System.Numerics;
using Autograd.Nn;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd.Optim;

/// <summary>Hyper-parameters of <see cref="Adam{T}"/> (PyTorch's defaults).</summary>
public record AdamOptions : OptimizerOptions
{
    public AdamOptions()
    {
        Lr = 1e-3;
    }

    /// <summary>Decay of the first-moment estimate.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>Decay of the second-moment estimate.</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>Added to the denominator for numerical stability.</summary>
    public double Eps { get; init; } = 1e-8;

    /// <summary>Adam: L2 penalty added to the gradient. AdamW: decoupled decay of the weights.</summary>
    public double WeightDecay { get; init; }

    /// <summary>Use the maximum of past second-moment estimates (Reddi et al., 2018).</summary>
    public bool Amsgrad { get; init; }

    /// <summary>Ascend instead of descend.</summary>
    public bool Maximize { get; init; }

    internal override void Validate(string optimizer)
    {
        base.Validate(optimizer);
        if (!(Beta1 >= 0 && Beta1 < 1) || !(Beta2 >= 0 && Beta2 < 1))
        {
            throw new ArgumentException($"{optimizer}: invalid betas ({Beta1}, {Beta2}) (each must be in [0, 1)).");
        }

        if (!(Eps >= 0) || !double.IsFinite(Eps) || !(WeightDecay >= 0) || !double.IsFinite(WeightDecay))
        {
            throw new ArgumentException($"{optimizer}: invalid eps {Eps} or weight decay {WeightDecay} (both must be finite and >= 0).");
        }
    }
}

/// <summary>Hyper-parameters of <see cref="AdamW{T}"/>: Adam's, with PyTorch's default weight decay of 0.01.</summary>
public sealed record AdamWOptions : AdamOptions
{
    public AdamWOptions()
    {
        WeightDecay = 1e-2;
    }
}

/// <summary>Adam's state of one parameter: the step count and the moment estimates (PyTorch's state keys).</summary>
public sealed class AdamState<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    internal AdamState(Tensor<T> parameter, bool amsgrad)
    {
        ExpAvg = Tensor.Zeros<T>(parameter.Shape);
        ExpAvgSq = Tensor.Zeros<T>(parameter.Shape);
        MaxExpAvgSq = amsgrad ? Tensor.Zeros<T>(parameter.Shape) : null;
    }

    internal AdamState(long step, Tensor<T> expAvg, Tensor<T> expAvgSq, Tensor<T>? maxExpAvgSq)
    {
        Step = step;
        ExpAvg = expAvg;
        ExpAvgSq = expAvgSq;
        MaxExpAvgSq = maxExpAvgSq;
    }

    /// <summary>Steps taken (t in the bias corrections).</summary>
    public long Step { get; internal set; }

    /// <summary>m, the first-moment estimate.</summary>
    public Tensor<T> ExpAvg { get; }

    /// <summary>v, the second-moment estimate.</summary>
    public Tensor<T> ExpAvgSq { get; }

    /// <summary>max of v over the steps (AMSGrad only).</summary>
    public Tensor<T>? MaxExpAvgSq { get; internal set; }
}

/// <summary>
/// Adam (Kingma and Ba, 2015) with PyTorch's update (<c>torch/optim/adam.py</c>), for each parameter p
/// with gradient g at step t:
/// <code>
/// g ← −g if maximize;  g ← g + wd·p               (Adam's L2 penalty; AdamW decays p instead)
/// m ← m + (1 − β1)·(g − m)                          (lerp)
/// v ← β2·v + (1 − β2)·g²;  v̂ ← max(v̂, v) if amsgrad
/// denom ← √v / √(1 − β2^t) + eps
/// p ← p − lr / (1 − β1^t) · m / denom
/// </code>
/// </summary>
public class Adam<T> : Optimizer<T, AdamOptions, AdamState<T>>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public Adam(IEnumerable<Tensor<T>> parameters, double lr = 1e-3, (double Beta1, double Beta2)? betas = null, double eps = 1e-8, double weightDecay = 0, bool amsgrad = false, bool maximize = false)
        : this([new ParamGroup<T>(parameters)], new AdamOptions { Lr = lr, Beta1 = (betas ?? (0.9, 0.999)).Beta1, Beta2 = (betas ?? (0.9, 0.999)).Beta2, Eps = eps, WeightDecay = weightDecay, Amsgrad = amsgrad, Maximize = maximize })
    {
    }

    public Adam(IEnumerable<ParamGroup<T>> groups, AdamOptions defaults)
        : base(groups, defaults)
    {
    }

    /// <summary>AdamW: weight decay multiplies the weights instead of adding to the gradient.</summary>
    protected virtual bool DecoupledWeightDecay => false;

    protected override string Name => "Adam";

    protected override AdamState<T> CreateState(Tensor<T> parameter) => new(parameter, amsgrad: false);

    protected override void SaveState(AdamState<T> state, ParameterState<T> entry)
    {
        entry.Scalars["step"] = state.Step;
        entry.Add("exp_avg", state.ExpAvg);
        entry.Add("exp_avg_sq", state.ExpAvgSq);
        entry.Add("max_exp_avg_sq", state.MaxExpAvgSq);
    }

    protected override AdamState<T> LoadState(Tensor<T> parameter, ParameterState<T> entry) =>
        new(entry.GetCount("step"), entry.GetTensor("exp_avg", parameter)!, entry.GetTensor("exp_avg_sq", parameter)!, entry.GetTensor("max_exp_avg_sq", parameter, required: false));

    protected override void Update(Tensor<T> parameter, Span<T> param, ReadOnlySpan<T> grad, AdamState<T> state, AdamOptions o)
    {
        var n = param.Length;
        var rented = ArrayPool<T>.Shared.Rent(2 * n);
        try
        {
            var g = rented.AsSpan(0, n);
            var tmp = rented.AsSpan(n, n);
            if (DecoupledWeightDecay && o.WeightDecay != 0)
            {
                // AdamW (Loshchilov and Hutter, 2019): p ← p·(1 − lr·wd), before the Adam step.
                TP.Multiply(param, T.CreateChecked(1 - o.Lr * o.WeightDecay), param);
            }

            Optimizers.DecayedGradient(param, grad, g, o.Maximize, DecoupledWeightDecay ? 0 : o.WeightDecay);

            state.Step++;
            var bias1 = 1 - Math.Pow(o.Beta1, state.Step);
            var bias2Sqrt = Math.Sqrt(1 - Math.Pow(o.Beta2, state.Step));
            using var mw = TensorMemory.Writable(state.ExpAvg, Name, "exp_avg");
            using var vw = TensorMemory.Writable(state.ExpAvgSq, Name, "exp_avg_sq");
            var m = mw.Elements;
            var v = vw.Elements;
            TP.Lerp(m, g, T.CreateChecked(1 - o.Beta1), m);
            TP.Multiply(g, g, tmp);
            TP.Multiply(v, T.CreateChecked(o.Beta2), v);
            TP.MultiplyAdd(tmp, T.CreateChecked(1 - o.Beta2), v, v);

            // denom = √v / √(1 − β2^t) + eps (with amsgrad v is the running max of v); p ← p − (lr / (1 − β1^t))·m / denom
            if (o.Amsgrad)
            {
                state.MaxExpAvgSq ??= Tensor.Zeros<T>(parameter.Shape);
                using var vmaxw = TensorMemory.Writable(state.MaxExpAvgSq, Name, "max_exp_avg_sq");
                var vmax = vmaxw.Elements;
                TP.Max(vmax, v, vmax);
                TensorMemory.Written(state.MaxExpAvgSq);
                TP.Sqrt(vmax, tmp);
            }
            else
            {
                TP.Sqrt(v, tmp);
            }

            TP.Divide(tmp, T.CreateChecked(bias2Sqrt), tmp);
            TP.Add(tmp, T.CreateChecked(o.Eps), tmp);
            TP.Divide(m, tmp, tmp);
            TP.MultiplyAdd(tmp, T.CreateChecked(-o.Lr / bias1), param, param);
            TensorMemory.Written(state.ExpAvg);
            TensorMemory.Written(state.ExpAvgSq);
        }
        finally
        {
            ArrayPool<T>.Shared.Return(rented);
        }
    }
}

/// <summary>
/// AdamW (Loshchilov and Hutter, 2019), PyTorch's <c>torch.optim.AdamW</c>: Adam whose weight decay is
/// decoupled from the gradient, p ← p·(1 − lr·wd) before the Adam step; default weight decay 0.01.
/// </summary>
public sealed class AdamW<T> : Adam<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public AdamW(IEnumerable<Tensor<T>> parameters, double lr = 1e-3, (double Beta1, double Beta2)? betas = null, double eps = 1e-8, double weightDecay = 1e-2, bool amsgrad = false, bool maximize = false)
        : this([new ParamGroup<T>(parameters)], new AdamWOptions { Lr = lr, Beta1 = (betas ?? (0.9, 0.999)).Beta1, Beta2 = (betas ?? (0.9, 0.999)).Beta2, Eps = eps, WeightDecay = weightDecay, Amsgrad = amsgrad, Maximize = maximize })
    {
    }

    public AdamW(IEnumerable<ParamGroup<T>> groups, AdamOptions defaults)
        : base(groups, defaults)
    {
    }

    protected override bool DecoupledWeightDecay => true;

    protected override string Name => "AdamW";
}
