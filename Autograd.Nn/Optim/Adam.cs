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
        state.Step++;
        if (o.Amsgrad)
        {
            state.MaxExpAvgSq ??= Tensor.Zeros<T>(parameter.Shape);
        }

        using var mw = TensorMemory.Writable(state.ExpAvg, Name, "exp_avg");
        using var vw = TensorMemory.Writable(state.ExpAvgSq, Name, "exp_avg_sq");
        using var vmaxw = o.Amsgrad ? TensorMemory.Writable(state.MaxExpAvgSq!, Name, "max_exp_avg_sq") : default;
        var coefficients = new AdamCoefficients<T>(o, state.Step, DecoupledWeightDecay);
        AdamKernel.Update(param, grad, mw.Elements, vw.Elements, o.Amsgrad ? vmaxw.Elements : default, coefficients);
        TensorMemory.Written(state.ExpAvg);
        TensorMemory.Written(state.ExpAvgSq);
        if (o.Amsgrad)
        {
            TensorMemory.Written(state.MaxExpAvgSq!);
        }
    }
}

/// <summary>One step's scalars of the Adam update, in the parameter's type.</summary>
internal readonly struct AdamCoefficients<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public AdamCoefficients(AdamOptions o, long step, bool decoupledWeightDecay)
    {
        Decay = T.CreateChecked(decoupledWeightDecay ? 1 - o.Lr * o.WeightDecay : 1);
        L2 = T.CreateChecked(decoupledWeightDecay ? 0 : o.WeightDecay);
        Sign = o.Maximize ? -T.One : T.One;
        OneMinusBeta1 = T.CreateChecked(1 - o.Beta1);
        Beta2 = T.CreateChecked(o.Beta2);
        OneMinusBeta2 = T.CreateChecked(1 - o.Beta2);
        Bias2Sqrt = T.CreateChecked(Math.Sqrt(1 - Math.Pow(o.Beta2, step)));
        Eps = T.CreateChecked(o.Eps);
        StepSize = T.CreateChecked(-o.Lr / (1 - Math.Pow(o.Beta1, step)));
    }

    /// <summary>AdamW's p·(1 − lr·wd) factor (1 for Adam).</summary>
    public T Decay { get; }

    /// <summary>Adam's L2 penalty wd added to the gradient as wd·p (0 for AdamW).</summary>
    public T L2 { get; }

    /// <summary>−1 when maximising.</summary>
    public T Sign { get; }

    public T OneMinusBeta1 { get; }

    public T Beta2 { get; }

    public T OneMinusBeta2 { get; }

    /// <summary>√(1 − β2^t).</summary>
    public T Bias2Sqrt { get; }

    public T Eps { get; }

    /// <summary>−lr / (1 − β1^t).</summary>
    public T StepSize { get; }
}

/// <summary>
/// The Adam/AdamW update of one parameter in a single pass over p, g, m, v (PyTorch's fused/foreach kernels make
/// the same one pass): each element is read and written once instead of once per elementwise step. Per element:
/// p ← p·decay; g ← sign·g + l2·p; m ← m + (1 − β1)(g − m); v ← β2·v + (1 − β2)·g²; v̂ ← max(v̂, v) (amsgrad);
/// p ← p + stepSize · m / (√v̂ / √(1 − β2^t) + eps).
/// </summary>
internal static class AdamKernel
{
    public static void Update<T>(Span<T> p, ReadOnlySpan<T> grad, Span<T> m, Span<T> v, Span<T> vmax, in AdamCoefficients<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var amsgrad = !vmax.IsEmpty;
        var hasL2 = c.L2 != T.Zero;
        var i = 0;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported)
        {
            var decay = new Vector<T>(c.Decay);
            var l2 = new Vector<T>(c.L2);
            var sign = new Vector<T>(c.Sign);
            var w1 = new Vector<T>(c.OneMinusBeta1);
            var b2 = new Vector<T>(c.Beta2);
            var w2 = new Vector<T>(c.OneMinusBeta2);
            var bias2 = new Vector<T>(c.Bias2Sqrt);
            var eps = new Vector<T>(c.Eps);
            var step = new Vector<T>(c.StepSize);
            for (; i <= p.Length - Vector<T>.Count; i += Vector<T>.Count)
            {
                var pv = new Vector<T>(p[i..]) * decay;
                var g = new Vector<T>(grad[i..]) * sign;
                if (hasL2)
                {
                    g += pv * l2;   // only with weight decay: an infinite weight times 0 would make g NaN
                }

                var mv = new Vector<T>(m[i..]);
                mv += (g - mv) * w1;
                var vv = new Vector<T>(v[i..]) * b2 + g * g * w2;
                mv.CopyTo(m[i..]);
                vv.CopyTo(v[i..]);
                if (amsgrad)
                {
                    vv = Vector.Max(new Vector<T>(vmax[i..]), vv);
                    vv.CopyTo(vmax[i..]);
                }

                (pv + mv / (Vector.SquareRoot(vv) / bias2 + eps) * step).CopyTo(p[i..]);
            }
        }

        for (; i < p.Length; i++)
        {
            var pv = p[i] * c.Decay;
            var g = hasL2 ? grad[i] * c.Sign + pv * c.L2 : grad[i] * c.Sign;
            var mv = m[i] + (g - m[i]) * c.OneMinusBeta1;
            var vv = v[i] * c.Beta2 + g * g * c.OneMinusBeta2;
            m[i] = mv;
            v[i] = vv;
            if (amsgrad)
            {
                vv = T.Max(vmax[i], vv);
                vmax[i] = vv;
            }

            p[i] = pv + mv / (T.Sqrt(vv) / c.Bias2Sqrt + c.Eps) * c.StepSize;
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
