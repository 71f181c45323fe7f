using System.Collections;
using System.Globalization;
using System.Numerics;

namespace Autograd.Nn;

/// <summary>
/// A list of modules registered as "0", "1", … (PyTorch's <c>nn.ModuleList</c>), so their parameters are
/// named <c>h.0.attn.c_attn.weight</c> and appear in <see cref="Module{T}.Parameters"/> and the state dict.
/// It has no forward of its own: iterate over it (<c>foreach (var block in H) x = block.Forward(x);</c>).
/// </summary>
/// <remarks>
/// A C# <c>List&lt;Module&lt;T&gt;&gt;</c> field would hold the modules without registering them (TorchSharp's
/// <c>RegisterComponents()</c> skipped such lists: TorchSharp #532, #1100); this is the registered list.
/// Modules are only appended, as the registration order fixes the names.
/// </remarks>
public sealed class ModuleList<T> : Module<T>, IReadOnlyList<Module<T>>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly List<Module<T>> _modules = [];

    /// <summary>An empty list; add modules with <see cref="Append"/> or a collection initialiser.</summary>
    public ModuleList()
    {
    }

    public ModuleList(params IEnumerable<Module<T>> modules)
    {
        Extend(modules);
    }

    /// <summary>Number of modules.</summary>
    public int Count => _modules.Count;

    /// <summary>The module at <paramref name="index"/> (negative counts from the end).</summary>
    public Module<T> this[int index] => _modules[ListIndex.Resolve(index, _modules.Count, "ModuleList", "modules")];

    /// <summary>Adds a module at the end, named by its position (PyTorch's <c>append</c>); returns this.</summary>
    public ModuleList<T> Append(Module<T> module)
    {
        ArgumentNullException.ThrowIfNull(module);
        _modules.Add(RegisterModule(_modules.Count.ToString(CultureInfo.InvariantCulture), module));
        return this;
    }

    /// <summary><see cref="Append"/>, for collection initialisers: <c>new ModuleList&lt;float&gt; { a, b }</c>.</summary>
    public void Add(Module<T> module) => Append(module);

    /// <summary>Appends each module in order (PyTorch's <c>extend</c>); returns this.</summary>
    public ModuleList<T> Extend(IEnumerable<Module<T>> modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        foreach (var module in modules.ToList())
        {
            Append(module);
        }

        return this;
    }

    /// <summary>PyTorch's ModuleList has no forward either; the model's own forward decides how the modules chain.</summary>
    protected override Tensor<T> ForwardCore(Tensor<T> input) =>
        throw new InvalidOperationException($"ModuleList: has no Forward (it holds {_modules.Count} modules); iterate over it and call each module's Forward.");

    public IEnumerator<Module<T>> GetEnumerator() => _modules.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Python-style indices of the module containers.</summary>
internal static class ListIndex
{
    /// <summary><paramref name="index"/> in [0, count), a negative index counting from the end; throws naming the container.</summary>
    public static int Resolve(int index, int count, string container, string items)
    {
        var i = index < 0 ? index + count : index;
        if ((uint)i >= (uint)count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{container}: index {index} is out of range for {count} {items}.");
        }

        return i;
    }
}
