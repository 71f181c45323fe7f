using System.Collections;
using System.Globalization;
using System.Numerics;

namespace Autograd.Nn;

/// <summary>
/// Modules applied one after the other (PyTorch's <c>nn.Sequential</c>), registered as "0", "1", …
/// so their parameters are named <c>0.weight</c>, <c>3.bias</c>, as in PyTorch, or under given names.
/// </summary>
public sealed class Sequential<T> : Module<T>, IEnumerable<Module<T>>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly List<Module<T>> _layers = [];

    /// <summary>An empty container; add layers with <see cref="Append(Module{T})"/>.</summary>
    public Sequential()
    {
    }

    public Sequential(params IEnumerable<Module<T>> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        foreach (var layer in layers)
        {
            Append(layer);
        }
    }

    /// <summary>
    /// Named layers (PyTorch's <c>Sequential(OrderedDict(...))</c>, TorchSharp's <c>Sequential(("conv1", ...), ...)</c>):
    /// parameters are then named <c>conv1.weight</c>.
    /// </summary>
    public Sequential(params IEnumerable<(string Name, Module<T> Module)> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        foreach (var (name, layer) in layers)
        {
            Append(name, layer);
        }
    }

    /// <summary>Number of layers.</summary>
    public int Count => _layers.Count;

    /// <summary>The layer at <paramref name="index"/> (negative counts from the end).</summary>
    public Module<T> this[int index] => _layers[ListIndex.Resolve(index, _layers.Count, "Sequential", "layers")];

    /// <summary>Adds a layer at the end, named by its position; returns this.</summary>
    public Sequential<T> Append(Module<T> layer) => Append(_layers.Count.ToString(CultureInfo.InvariantCulture), layer);

    /// <summary>Adds a layer at the end under <paramref name="name"/>; returns this.</summary>
    public Sequential<T> Append(string name, Module<T> layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        _layers.Add(RegisterModule(name, layer));
        return this;
    }

    /// <summary>
    /// <see cref="Append(Module{T})"/> under PyTorch's other name (<c>add_module</c> without a name, TorchSharp's
    /// <c>Add</c>); also what a collection initializer calls: <c>new Sequential&lt;float&gt; { new Linear&lt;float&gt;(4, 8), new ReLU&lt;float&gt;() }</c>.
    /// </summary>
    public Sequential<T> Add(Module<T> layer) => Append(layer);

    /// <summary><see cref="Append(string, Module{T})"/>: adds a layer at the end under <paramref name="name"/>.</summary>
    public Sequential<T> Add(string name, Module<T> layer) => Append(name, layer);

    protected override Tensor<T> ForwardCore(Tensor<T> input)
    {
        var x = input;
        foreach (var layer in _layers)
        {
            x = layer.Forward(x);
        }

        return x;
    }

    public IEnumerator<Module<T>> GetEnumerator() => _layers.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
