namespace Autograd.Benchmarks;

/// <summary>
/// LeNet-5 as the peers build it (WORKLOADS.md §6), written directly with ops: Conv2d(1,6,5,pad 2) ReLU
/// MaxPool(2) Conv2d(6,16,5) ReLU MaxPool(2) Flatten Linear(400,120) ReLU Linear(120,84) ReLU
/// Linear(84,10), cross-entropy loss, SGD with momentum 0.9 (dampening 0, no weight decay, not
/// Nesterov), lr 0.01.
/// </summary>
/// <remarks>
/// PyTorch's default init: kaiming_uniform(a = √5) weights, which is U(±1/√fan_in), and U(±1/√fan_in)
/// biases, drawn here from our own <see cref="Generator"/> (so not bit-identical to the peers' weights).
/// A Linear layer keeps PyTorch's [out, in] weight and computes x·Wᵀ + b.
/// </remarks>
internal sealed class LeNet
{
    private const float LearningRate = 0.01f;
    private const float Momentum = 0.9f;

    private readonly Tensor<float> _conv1W;
    private readonly Tensor<float> _conv1B;
    private readonly Tensor<float> _conv2W;
    private readonly Tensor<float> _conv2B;
    private readonly Tensor<float> _fc1W;
    private readonly Tensor<float> _fc1B;
    private readonly Tensor<float> _fc2W;
    private readonly Tensor<float> _fc2B;
    private readonly Tensor<float> _fc3W;
    private readonly Tensor<float> _fc3B;
    private readonly Tensor<float>[] _parameters;
    private readonly Tensor<float>?[] _momentum;

    public LeNet(Generator g)
    {
        (_conv1W, _conv1B) = Layer(g, [6, 1, 5, 5], 1 * 5 * 5);
        (_conv2W, _conv2B) = Layer(g, [16, 6, 5, 5], 6 * 5 * 5);
        (_fc1W, _fc1B) = Layer(g, [120, 400], 400);
        (_fc2W, _fc2B) = Layer(g, [84, 120], 120);
        (_fc3W, _fc3B) = Layer(g, [10, 84], 84);
        _parameters = [_conv1W, _conv1B, _conv2W, _conv2B, _fc1W, _fc1B, _fc2W, _fc2B, _fc3W, _fc3B];
        _momentum = new Tensor<float>?[_parameters.Length];
    }

    /// <summary>Number of trainable values (61,706 for LeNet-5).</summary>
    public int ParameterCount => _parameters.Sum(p => p.Numel);

    public Tensor<float> Forward(Tensor<float> x)
    {
        var h = x.Conv2d(_conv1W, _conv1B, padding: 2).Relu().MaxPool2d(2);
        h = h.Conv2d(_conv2W, _conv2B).Relu().MaxPool2d(2).Flatten(1);
        h = Linear(h, _fc1W, _fc1B).Relu();
        h = Linear(h, _fc2W, _fc2B).Relu();
        return Linear(h, _fc3W, _fc3B);
    }

    /// <summary>zero_grad (in place), forward, loss, backward, SGD-momentum step; returns the loss.</summary>
    public float Step(Tensor<float> x, int[] labels)
    {
        foreach (var p in _parameters)
        {
            p.ZeroGrad();
        }

        var loss = Forward(x).CrossEntropy(labels);
        loss.Backward();
        Update();
        return loss.Item();
    }

    /// <summary>
    /// PyTorch's SGD with momentum: buf = g on the first step, then buf = μ·buf + g; p −= lr·buf. Every
    /// buffer is updated in place.
    /// </summary>
    private void Update()
    {
        using (Tensor.NoGrad())
        {
            for (var i = 0; i < _parameters.Length; i++)
            {
                var p = _parameters[i];
                var grad = p.Grad!;
                if (_momentum[i] is not { } buf)
                {
                    _momentum[i] = buf = grad.Clone();
                }
                else
                {
                    buf.MulInPlace(Momentum).AddInPlace(grad);
                }

                p.AddInPlace(buf, -LearningRate);
            }
        }
    }

    private static Tensor<float> Linear(Tensor<float> x, Tensor<float> w, Tensor<float> b) => x.MatMul(w.Transpose(0, 1)) + b;

    private static (Tensor<float> Weight, Tensor<float> Bias) Layer(Generator g, int[] shape, int fanIn)
    {
        var bound = 1f / MathF.Sqrt(fanIn);
        return (Uniform(g, shape, bound), Uniform(g, [shape[0]], bound));
    }

    private static Tensor<float> Uniform(Generator g, int[] shape, float bound)
    {
        var t = Tensor.Rand<float>(shape, g);
        var d = t.Data;
        for (var i = 0; i < d.Length; i++)
        {
            d[i] = ((2 * d[i]) - 1) * bound;
        }

        t.RequiresGrad = true;
        return t;
    }
}
