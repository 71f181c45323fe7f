using System.Buffers;
using System.Numerics;
using Autograd.Nn;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd.Optim;

/// <summary>Hyper-parameters of <see cref="RMSprop{T}"/> (PyTorch's defaults).</summary>
public sealed record RmspropOptions : OptimizerOptions
{
    public RmspropOptions()
    {
        Lr = 1e-2;
    }

    /// <summary>Smoothing constant of the running average of g².</summary>
    public double Alpha { get; init; } = 0.99;

    /// <summary>Added to the denominator for numerical stability.</summary>
    public double Eps { get; init; } = 1e-8;

    /// <summary>L2 penalty: wd·p is added to the gradient.</summary>
    public double WeightDecay { get; init; }

    public double Momentum { get; init; }

    /// <summary>Normalise by the estimated variance of the gradient (running g² minus the square of the running g).</summary>
    public bool Centered { get; init; }

    /// <summary>Ascend instead of descend.</summary>
    public bool Maximize { get; init; }

    internal override void Validate(string optimizer)
    {
        base.Validate(optimizer);
        RequireNonNegative(optimizer, ("alpha", Alpha), ("eps", Eps), ("weight decay", WeightDecay), ("momentum", Momentum));
    }
}

/// <summary>RMSprop's state of one parameter (PyTorch's keys): the step count and the running averages; the buffers that the options do not use stay null.</summary>
public sealed class RmspropState<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public long Step { get; internal set; }

    /// <summary>v, the running average of g².</summary>
    public Tensor<T>? SquareAvg { get; internal set; }

    /// <summary>b, the momentum buffer (momentum &gt; 0 only).</summary>
    public Tensor<T>? MomentumBuffer { get; internal set; }

    /// <summary>ḡ, the running average of g (centered only).</summary>
    public Tensor<T>? GradAvg { get; internal set; }
}

/// <summary>
/// RMSprop (Hinton, lecture 6e) with PyTorch's update (<c>torch/optim/rmsprop.py</c>), for each parameter p with
/// gradient g:
/// <code>
/// g ← −g if maximize;  g ← g + wd·p
/// v ← α·v + (1 − α)·g²
/// centered:  ḡ ← α·ḡ + (1 − α)·g;  a ← √(v − ḡ²) + eps      else a ← √v + eps
/// momentum:  b ← μ·b + g / a;  p ← p − lr·b                   else p ← p − lr·g / a
/// </code>
/// v, ḡ and b start at zero.
/// </summary>
public sealed class RMSprop<T> : Optimizer<T, RmspropOptions, RmspropState<T>>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public RMSprop(IEnumerable<Tensor<T>> parameters, double lr = 1e-2, double alpha = 0.99, double eps = 1e-8, double weightDecay = 0, double momentum = 0, bool centered = false, bool maximize = false)
        : this([new ParamGroup<T>(parameters)], new RmspropOptions { Lr = lr, Alpha = alpha, Eps = eps, WeightDecay = weightDecay, Momentum = momentum, Centered = centered, Maximize = maximize })
    {
    }

    public RMSprop(IEnumerable<ParamGroup<T>> groups, RmspropOptions defaults)
        : base(groups, defaults)
    {
    }

    protected override string Name => "RMSprop";

    protected override RmspropState<T> CreateState(Tensor<T> parameter) => new();

    protected override void SaveState(RmspropState<T> state, ParameterState<T> entry)
    {
        entry.Scalars["step"] = state.Step;
        entry.Add("square_avg", state.SquareAvg);
        entry.Add("momentum_buffer", state.MomentumBuffer);
        entry.Add("grad_avg", state.GradAvg);
    }

    protected override RmspropState<T> LoadState(Tensor<T> parameter, ParameterState<T> entry) => new()
    {
        Step = entry.GetCount("step"),
        SquareAvg = entry.GetTensor("square_avg", parameter, required: false),
        MomentumBuffer = entry.GetTensor("momentum_buffer", parameter, required: false),
        GradAvg = entry.GetTensor("grad_avg", parameter, required: false),
    };

    protected override void Update(Tensor<T> parameter, Span<T> param, ReadOnlySpan<T> grad, RmspropState<T> state, RmspropOptions o)
    {
        var n = param.Length;
        var rented = ArrayPool<T>.Shared.Rent(3 * n);
        try
        {
            var g = rented.AsSpan(0, n);
            var a = rented.AsSpan(n, n);
            var tmp = rented.AsSpan(2 * n, n);
            Optimizers.DecayedGradient(param, grad, g, o.Maximize, o.WeightDecay);
            state.Step++;
            var alpha = T.CreateChecked(o.Alpha);
            var rest = T.CreateChecked(1 - o.Alpha);

            // v ← α·v + (1 − α)·g²
            state.SquareAvg ??= Tensor.Zeros<T>(parameter.Shape);
            using (var vw = TensorMemory.Writable(state.SquareAvg, Name, "square_avg"))
            {
                var v = vw.Elements;
                TP.Multiply(g, g, a);
                TP.Multiply(v, alpha, v);
                TP.MultiplyAdd(a, rest, v, v);
                v.CopyTo(a);
            }

            TensorMemory.Written(state.SquareAvg);
            if (o.Centered)
            {
                // ḡ ← α·ḡ + (1 − α)·g;  a ← v − ḡ²
                state.GradAvg ??= Tensor.Zeros<T>(parameter.Shape);
                using (var mw = TensorMemory.Writable(state.GradAvg, Name, "grad_avg"))
                {
                    var m = mw.Elements;
                    TP.Multiply(m, alpha, m);
                    TP.MultiplyAdd(g, rest, m, m);
                    TP.Multiply(m, m, tmp);
                    TP.Subtract(a, tmp, a);
                }

                TensorMemory.Written(state.GradAvg);
            }

            TP.Sqrt(a, a);
            TP.Add(a, T.CreateChecked(o.Eps), a);
            TP.Divide(g, a, a);
            if (o.Momentum > 0)
            {
                // b ← μ·b + g / a;  p ← p − lr·b
                state.MomentumBuffer ??= Tensor.Zeros<T>(parameter.Shape);
                using (var bw = TensorMemory.Writable(state.MomentumBuffer, Name, "momentum_buffer"))
                {
                    var b = bw.Elements;
                    TP.MultiplyAdd(b, T.CreateChecked(o.Momentum), a, b);
                    TP.MultiplyAdd(b, T.CreateChecked(-o.Lr), param, param);
                }

                TensorMemory.Written(state.MomentumBuffer);
            }
            else
            {
                TP.MultiplyAdd(a, T.CreateChecked(-o.Lr), param, param);
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(rented);
        }
    }
}
