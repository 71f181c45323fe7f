using System.Collections;
using System.Numerics;

namespace Autograd.Nn;

/// <summary>
/// Modules registered under string keys, in insertion order (PyTorch's <c>nn.ModuleDict</c>), so their
/// parameters are named <c>heads.cls.weight</c> and appear in <see cref="Module{T}.Parameters"/> and the state
/// dict. It has no forward of its own: the model picks the modules by key (<c>Heads["cls"].Forward(h)</c>).
/// </summary>
/// <remarks>
/// Keys follow the registration rules (non-empty, no <c>.</c>, unique). Setting an existing key replaces the
/// module in place, keeping its position (PyTorch's <c>d[key] = module</c>); there is no removal, since the
/// state-dict names of the remaining modules would not change but a model's references to the removed one would
/// silently keep training nothing.
/// </remarks>
public sealed class ModuleDict<T> : Module<T>, IReadOnlyDictionary<string, Module<T>>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly OrderedDictionary<string, Module<T>> _modules = [];

    /// <summary>An empty dictionary; add modules with <see cref="Add"/>, the indexer or a collection initialiser.</summary>
    public ModuleDict()
    {
    }

    /// <summary>The given modules, in order: <c>new ModuleDict&lt;float&gt;([("cls", cls), ("box", box)])</c>.</summary>
    public ModuleDict(IEnumerable<(string Key, Module<T> Module)> modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        foreach (var (key, module) in modules.ToList())
        {
            Add(key, module);
        }
    }

    /// <summary>Number of modules.</summary>
    public int Count => _modules.Count;

    /// <summary>The keys, in insertion order.</summary>
    public IEnumerable<string> Keys => _modules.Keys;

    /// <summary>The modules, in insertion order.</summary>
    public IEnumerable<Module<T>> Values => _modules.Values;

    /// <summary>The module under <paramref name="key"/>; setting adds it, or replaces the module already there.</summary>
    public Module<T> this[string key]
    {
        get
        {
            ArgumentNullException.ThrowIfNull(key);
            return _modules.TryGetValue(key, out var module)
                ? module
                : throw new KeyNotFoundException($"ModuleDict: no module under key '{key}' (keys: {string.Join(", ", _modules.Keys.Select(k => $"'{k}'"))}).");
        }

        set
        {
            ArgumentNullException.ThrowIfNull(key);
            ArgumentNullException.ThrowIfNull(value);
            if (_modules.ContainsKey(key))
            {
                ReplaceModule(key, value);
                _modules[key] = value;
            }
            else
            {
                Add(key, value);
            }
        }
    }

    /// <summary>Registers <paramref name="module"/> under <paramref name="key"/> (which must be new); collection initialisers use it.</summary>
    public void Add(string key, Module<T> module)
    {
        ArgumentNullException.ThrowIfNull(module);
        _modules.Add(key, RegisterModule(key, module));
    }

    /// <summary>Sets every pair in order, adding new keys and replacing existing ones (PyTorch's <c>update</c>); returns this.</summary>
    public ModuleDict<T> Update(IEnumerable<(string Key, Module<T> Module)> modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        foreach (var (key, module) in modules.ToList())
        {
            this[key] = module;
        }

        return this;
    }

    public bool ContainsKey(string key) => _modules.ContainsKey(key);

    public bool TryGetValue(string key, out Module<T> value) => _modules.TryGetValue(key, out value!);

    /// <summary>PyTorch's ModuleDict has no forward either; the model's own forward picks the modules.</summary>
    protected override Tensor<T> ForwardCore(Tensor<T> input) =>
        throw new InvalidOperationException($"ModuleDict: has no Forward (it holds {_modules.Count} modules: {string.Join(", ", _modules.Keys)}); call the module you want by key.");

    public IEnumerator<KeyValuePair<string, Module<T>>> GetEnumerator() => _modules.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
