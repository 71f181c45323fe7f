using System.Buffers;
using System.Numerics;
using Autograd.Nn;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd.Optim;

/// <summary>Hyper-parameters of <see cref="SGD{T}"/> (PyTorch's defaults).</summary>
public sealed record SgdOptions : OptimizerOptions
{
    public double Momentum { get; init; }

    public double Dampening { get; init; }

    /// <summary>L2 penalty: wd·p is added to the gradient.</summary>
    public double WeightDecay { get; init; }

    public bool Nesterov { get; init; }

    /// <summary>Ascend instead of descend.</summary>
    public bool Maximize { get; init; }

    internal override void Validate(string optimizer)
    {
        base.Validate(optimizer);
        if (!(Momentum >= 0) || !(WeightDecay >= 0) || !double.IsFinite(Momentum) || !double.IsFinite(WeightDecay) || !double.IsFinite(Dampening))
        {
            throw new ArgumentException($"{optimizer}: invalid momentum {Momentum} or weight decay {WeightDecay} (both must be finite and >= 0).");
        }

        if (Nesterov && (Momentum <= 0 || Dampening != 0))
        {
            throw new ArgumentException($"{optimizer}: Nesterov momentum requires a momentum and zero dampening (momentum {Momentum}, dampening {Dampening}).");
        }
    }
}

/// <summary>Momentum buffer of one parameter; null until the first step with momentum.</summary>
public sealed class SgdState<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public Tensor<T>? MomentumBuffer { get; internal set; }
}

/// <summary>
/// Stochastic gradient descent with PyTorch's update (<c>torch/optim/sgd.py</c>), for each parameter p
/// with gradient g:
/// <code>
/// g ← −g if maximize;  g ← g + wd·p
/// if momentum ≠ 0:  b ← g on the first step, else b ← μ·b + (1 − dampening)·g
///                   g ← g + μ·b if nesterov, else g ← b
/// p ← p − lr·g
/// </code>
/// </summary>
public sealed class SGD<T> : Optimizer<T, SgdOptions, SgdState<T>>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public SGD(IEnumerable<Tensor<T>> parameters, double lr, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false, bool maximize = false)
        : this([new ParamGroup<T>(parameters)], new SgdOptions { Lr = lr, Momentum = momentum, Dampening = dampening, WeightDecay = weightDecay, Nesterov = nesterov, Maximize = maximize })
    {
    }

    public SGD(IEnumerable<ParamGroup<T>> groups, SgdOptions defaults)
        : base(groups, defaults)
    {
    }

    protected override string Name => "SGD";

    protected override SgdState<T> CreateState(Tensor<T> parameter) => new();

    protected override void SaveState(SgdState<T> state, ParameterState<T> entry) => entry.Add("momentum_buffer", state.MomentumBuffer);

    protected override SgdState<T> LoadState(Tensor<T> parameter, ParameterState<T> entry) =>
        new() { MomentumBuffer = entry.GetTensor("momentum_buffer", parameter, required: false) };

    protected override void Update(Tensor<T> parameter, Span<T> param, ReadOnlySpan<T> grad, SgdState<T> state, SgdOptions o)
    {
        var n = param.Length;
        var rented = ArrayPool<T>.Shared.Rent(n);
        try
        {
            // d = ±g + wd·p
            var d = rented.AsSpan(0, n);
            Optimizers.DecayedGradient(param, grad, d, o.Maximize, o.WeightDecay);

            if (o.Momentum != 0)
            {
                var momentum = T.CreateChecked(o.Momentum);
                if (state.MomentumBuffer is null)
                {
                    // PyTorch: buf = torch.clone(d_p).detach() on the first step (no dampening).
                    var first = Tensor<T>.Uninitialized(parameter.Shape);
                    using (var fw = first.Write())
                    {
                        d.CopyTo(fw.Elements);
                    }

                    state.MomentumBuffer = first;
                }
                else
                {
                    using (var bw = TensorMemory.Writable(state.MomentumBuffer, Name, "the momentum buffer"))
                    {
                        var b = bw.Elements;
                        TP.Multiply(b, momentum, b);
                        TP.MultiplyAdd(d, T.CreateChecked(1 - o.Dampening), b, b);
                    }

                    TensorMemory.Written(state.MomentumBuffer);
                }

                using var br = state.MomentumBuffer.Read();
                var buf = br.ContiguousElements;
                if (o.Nesterov)
                {
                    TP.MultiplyAdd(buf, momentum, d, d);
                }
                else
                {
                    buf.CopyTo(d);
                }
            }

            // p ← p − lr·d
            TP.MultiplyAdd(d, T.CreateChecked(-o.Lr), param, param);
        }
        finally
        {
            ArrayPool<T>.Shared.Return(rented);
        }
    }
}
