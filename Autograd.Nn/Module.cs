using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace Autograd.Nn;

/// <summary>
/// A layer or a model (PyTorch's <c>nn.Module</c>): named parameters, buffers and child modules in
/// registration order, a training flag, and a <see cref="Forward"/>. Subclasses register everything
/// explicitly in their constructor, and each Register call returns its argument:
/// <code>
/// Fc1 = RegisterModule("fc1", new Linear&lt;float&gt;(784, 128));
/// Scale = RegisterParameter("scale", Tensor.Ones&lt;float&gt;(128));
/// </code>
/// </summary>
/// <remarks>
/// Registration is explicit (no reflection over fields): a forgotten field would otherwise be
/// silently missing from <see cref="Parameters"/> and the state dict, lists of modules would be
/// skipped, and reflection does not survive trimming/AOT (TorchSharp's <c>RegisterComponents()</c>
/// has all three problems). A parameter is an ordinary leaf <see cref="Tensor{T}"/> with
/// <c>RequiresGrad</c> set; <c>Tensor&lt;T&gt;</c> is sealed in Core, and a wrapper type would have to be
/// unwrapped at every op call (<c>x.MatMul(Weight.Data)</c>), so there is none. Optimisers update
/// parameters in place, so a reference to one never goes stale.
/// </remarks>
public abstract class Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly OrderedDictionary<string, Tensor<T>?> _parameters = [];
    private readonly OrderedDictionary<string, Tensor<T>?> _buffers = [];
    private readonly OrderedDictionary<string, Module<T>> _modules = [];

    /// <summary>True in training mode (the default), false after <see cref="Eval"/>.</summary>
    public bool Training { get; internal set; } = true;

    /// <summary>The summary being taken on this thread (<see cref="Summary(Tensor{T}, int)"/>), which notes every forward's output.</summary>
    [ThreadStatic]
    private static ModelSummaryRecorder<T>? t_summary;

    /// <summary>
    /// Runs the module (<see cref="ForwardCore"/>): call it as <c>model.Forward(x)</c>. The tape nodes a built-in
    /// layer records name the caller's file and line (<see cref="CallSite"/>), not lines inside the library;
    /// inside a user-defined module the ops name their own lines, since that code is the user's.
    /// </summary>
    /// <param name="input">The input batch.</param>
    /// <param name="callerFile">Filled in by the compiler: the calling file, kept on the tape nodes.</param>
    /// <param name="callerLine">Filled in by the compiler: the calling line, kept on the tape nodes.</param>
    public Tensor<T> Forward(Tensor<T> input, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
    {
        using var site = EnterForward(callerFile, callerLine);
        return Observed(ForwardCore(input));
    }

    /// <summary>Notes a forward's output for a summary being taken; every public forward returns through it.</summary>
    private protected Tensor<T> Observed(Tensor<T> output)
    {
        t_summary?.Note(this, output);
        return output;
    }

    /// <summary>
    /// A table of the model's layers (torchinfo's <c>summary(model, input_data=x)</c>): each module of the tree down to
    /// <paramref name="depth"/> with its type, name, output shape for <paramref name="input"/> and parameter count, then the
    /// total, trainable and non-trainable parameters. Runs one forward in evaluation mode under no-grad (no running
    /// statistics move, no dropout mask is drawn) and restores every module's mode; <c>ToString()</c> prints the table.
    /// </summary>
    public ModelSummary Summary(Tensor<T> input, int depth = 3)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (depth < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(depth), depth, $"Summary: depth must be non-negative, got {depth} (input {ShapeMath.Format(input.Shape)}).");
        }

        if (t_summary is not null)
        {
            throw new InvalidOperationException("Summary: a summary is already being taken on this thread (Summary was called from a Forward).");
        }

        var modes = NamedModules().Select(m => (m.Module, m.Module.Training)).ToList();
        var recorder = new ModelSummaryRecorder<T>();
        Tensor<T> output;
        try
        {
            t_summary = recorder;
            Eval();
            using (Tensor.NoGrad())
            {
                output = Forward(input);
            }
        }
        finally
        {
            t_summary = null;
            foreach (var (module, training) in modes)
            {
                module.Training = training;
            }
        }

        return ModelSummary.Build(this, input.Shape, output.Shape, recorder, depth);
    }

    /// <summary>Summary for an input of zeros of <paramref name="inputSize"/> (torchinfo's <c>input_size</c>).</summary>
    public ModelSummary Summary(int[] inputSize, int depth = 3)
    {
        ArgumentNullException.ThrowIfNull(inputSize);
        return Summary(Tensor.Zeros<T>(inputSize), depth);
    }

    /// <summary>The parameters registered on this module itself (not its children), with their names: a summary's per-layer count.</summary>
    internal IEnumerable<Tensor<T>> OwnParameters() => _parameters.Values.OfType<Tensor<T>>();

    /// <summary>The call-site scope of a forward: the caller's line for built-in modules, the module's own lines for a user's.</summary>
    private protected CallSiteScope EnterForward(string callerFile, int callerLine) =>
        GetType().Assembly == typeof(Module<T>).Assembly ? CallSite.Enter(callerFile, callerLine) : CallSite.Suspend();

    /// <summary>The module's computation; subclasses implement it (PyTorch's <c>forward</c>). Callers use <see cref="Forward"/>.</summary>
    protected abstract Tensor<T> ForwardCore(Tensor<T> input);

    /// <summary>
    /// Registers <paramref name="parameter"/> (a leaf tensor; it is marked <c>RequiresGrad</c>) under
    /// <paramref name="name"/> and returns it. A null parameter reserves the name (PyTorch's
    /// <c>bias=None</c>): it appears nowhere, not even in the state dict.
    /// </summary>
    protected Tensor<T>? RegisterParameter(string name, Tensor<T>? parameter)
    {
        CheckName(name, "RegisterParameter");
        MarkParameter(name, parameter, "RegisterParameter");
        _parameters.Add(name, parameter);
        return parameter;
    }

    /// <summary>
    /// Puts <paramref name="parameter"/> in the place of the parameter registered as <paramref name="name"/>
    /// (PyTorch's <c>module.weight = other</c> on a registered name) and returns it; the name keeps its place in
    /// the names and the state dict. Given another module's parameter this ties the two (<c>lmHead.Weight =
    /// wte.Weight</c>): one tensor under two names, which <see cref="Parameters"/> yields once, an optimiser
    /// updates once, and the state dict writes under both names. Null removes the parameter but keeps the name.
    /// </summary>
    protected Tensor<T>? ReplaceParameter(string name, Tensor<T>? parameter)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!_parameters.ContainsKey(name))
        {
            throw new ArgumentException(
                $"ReplaceParameter: {GetType().Name} has no parameter '{name}' (its parameters: {string.Join(", ", _parameters.Keys.Select(k => $"'{k}'"))}); register it first.",
                nameof(name));
        }

        MarkParameter(name, parameter, "ReplaceParameter");
        _parameters[name] = parameter;
        return parameter;
    }

    /// <summary>A parameter must be a leaf; it is marked <c>RequiresGrad</c>.</summary>
    private static void MarkParameter(string name, Tensor<T>? parameter, string op)
    {
        if (parameter is null)
        {
            return;
        }

        if (!parameter.IsLeaf)
        {
            throw new ArgumentException(
                $"{op}: '{name}' is the result of '{parameter.GradFn!.OpName}', not a leaf; a parameter must be a leaf tensor (use Detach()).",
                nameof(parameter));
        }

        parameter.RequiresGrad = true;
    }

    /// <summary>
    /// Registers a tensor that is part of the module's state but not trained (PyTorch's buffers, such
    /// as batch-norm's running mean): saved in the state dict, never handed to an optimiser.
    /// </summary>
    protected Tensor<T>? RegisterBuffer(string name, Tensor<T>? buffer)
    {
        CheckName(name, "RegisterBuffer");
        if (buffer is { RequiresGrad: true })
        {
            throw new ArgumentException($"RegisterBuffer: '{name}' requires grad; buffers are not trained (register it as a parameter instead).", nameof(buffer));
        }

        _buffers.Add(name, buffer);
        return buffer;
    }

    /// <summary>Registers a child module under <paramref name="name"/> and returns it.</summary>
    protected TModule RegisterModule<TModule>(string name, TModule module)
        where TModule : Module<T>
    {
        ArgumentNullException.ThrowIfNull(module);
        CheckName(name, "RegisterModule");
        if (ReferenceEquals(module, this))
        {
            throw new ArgumentException($"RegisterModule: '{name}' is the module itself.", nameof(module));
        }

        _modules.Add(name, module);
        return module;
    }

    /// <summary>
    /// Puts <paramref name="module"/> in the place of the child registered as <paramref name="name"/> (PyTorch's
    /// <c>module.name = other</c> on a registered child), keeping the name's position; for containers such as
    /// <see cref="ModuleDict{T}"/>.
    /// </summary>
    private protected void ReplaceModule(string name, Module<T> module)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(module);
        if (!_modules.ContainsKey(name))
        {
            throw new ArgumentException($"ReplaceModule: {GetType().Name} has no child module '{name}'; register it first.", nameof(name));
        }

        if (ReferenceEquals(module, this))
        {
            throw new ArgumentException($"ReplaceModule: '{name}' is the module itself.", nameof(module));
        }

        _modules[name] = module;
    }

    private void CheckName(string name, string op)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0)
        {
            throw new ArgumentException($"{op}: the name is empty.", nameof(name));
        }

        if (name.Contains('.'))
        {
            throw new ArgumentException($"{op}: name '{name}' contains '.', which separates the parts of dotted names such as 'features.0.weight'.", nameof(name));
        }

        if (_parameters.ContainsKey(name) || _buffers.ContainsKey(name) || _modules.ContainsKey(name))
        {
            throw new ArgumentException($"{op}: '{name}' is already registered in {GetType().Name}.", nameof(name));
        }
    }

    /// <summary>
    /// The parameters of this module and (with <paramref name="recurse"/>) of all its descendants,
    /// depth first in registration order, with dotted names (<c>features.0.weight</c>). A parameter
    /// shared by two modules appears once, under its first name.
    /// </summary>
    public IEnumerable<(string Name, Tensor<T> Parameter)> NamedParameters(bool recurse = true) =>
        Walk(m => m._parameters, recurse);

    /// <summary>The tensors of <see cref="NamedParameters"/>: what an optimiser takes.</summary>
    public IEnumerable<Tensor<T>> Parameters(bool recurse = true) => NamedParameters(recurse).Select(p => p.Parameter);

    /// <summary>The buffers of this module and its descendants, with dotted names.</summary>
    public IEnumerable<(string Name, Tensor<T> Buffer)> NamedBuffers(bool recurse = true) =>
        Walk(m => m._buffers, recurse);

    /// <summary>The direct children, in registration order.</summary>
    public IEnumerable<(string Name, Module<T> Module)> NamedChildren() =>
        _modules.Select(kv => (kv.Key, kv.Value));

    /// <summary>This module (name "") and every descendant once, depth first, with dotted names.</summary>
    public IEnumerable<(string Name, Module<T> Module)> NamedModules() => Descendants(memo: true);

    /// <summary>Depth-first preorder; without <paramref name="memo"/> a module registered twice is visited under each name.</summary>
    private IEnumerable<(string Name, Module<T> Module)> Descendants(bool memo)
    {
        var seen = new HashSet<Module<T>>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(string, Module<T>)>();
        stack.Push(("", this));
        while (stack.Count > 0)
        {
            var (prefix, module) = stack.Pop();
            if (memo && !seen.Add(module))
            {
                continue;
            }

            yield return (prefix, module);
            for (var i = module._modules.Count - 1; i >= 0; i--)
            {
                var (name, child) = module._modules.GetAt(i);
                stack.Push((prefix.Length == 0 ? name : prefix + "." + name, child));
            }
        }
    }

    private IEnumerable<(string, Tensor<T>)> Walk(Func<Module<T>, OrderedDictionary<string, Tensor<T>?>> members, bool recurse)
    {
        var seen = new HashSet<Tensor<T>>(ReferenceEqualityComparer.Instance);
        var modules = recurse ? NamedModules() : [("", this)];
        foreach (var (prefix, module) in modules)
        {
            foreach (var (name, tensor) in members(module))
            {
                if (tensor is not null && seen.Add(tensor))
                {
                    yield return (prefix.Length == 0 ? name : prefix + "." + name, tensor);
                }
            }
        }
    }

    /// <summary>Sets training mode on this module and every descendant (Dropout and batch-norm read it); returns this.</summary>
    public Module<T> Train(bool mode = true)
    {
        foreach (var (_, m) in NamedModules())
        {
            m.Training = mode;
        }

        return this;
    }

    /// <summary>Evaluation mode: <c>Train(false)</c>.</summary>
    public Module<T> Eval() => Train(false);

    /// <summary>
    /// Clears the gradient of every parameter: zeroed in place by default, so backward accumulates
    /// into the same buffers every step (PyTorch's <c>zero_grad(set_to_none=False)</c>, TorchSharp's
    /// only behaviour); with <paramref name="setToNone"/> the gradients are dropped instead.
    /// </summary>
    public void ZeroGrad(bool setToNone = false)
    {
        foreach (var p in Parameters())
        {
            if (setToNone)
            {
                p.Grad = null;
            }
            else
            {
                p.ZeroGrad();
            }
        }
    }

    /// <summary>
    /// Every parameter and buffer by dotted name, in registration order: detached tensors that share
    /// storage with the module (PyTorch's <c>state_dict()</c>), so saving it reads the live values. As
    /// in PyTorch, a module registered under two names appears under both.
    /// </summary>
    public OrderedDictionary<string, Tensor<T>> StateDict()
    {
        var state = new OrderedDictionary<string, Tensor<T>>();
        foreach (var (prefix, module) in Descendants(memo: false))
        {
            foreach (var (name, tensor) in module._parameters.Concat(module._buffers))
            {
                if (tensor is not null)
                {
                    state.TryAdd(prefix.Length == 0 ? name : prefix + "." + name, tensor.Detach());
                }
            }
        }

        return state;
    }

    /// <summary>
    /// Copies <paramref name="state"/> into this module's parameters and buffers, in place (optimisers
    /// keep their references). Every problem is collected first (missing keys, unexpected keys, shape
    /// mismatches) and reported in one <see cref="StateDictException"/>; if there is any, nothing is
    /// copied. With <paramref name="strict"/> false, missing and unexpected keys are returned instead
    /// of thrown (shape mismatches still throw).
    /// </summary>
    public LoadResult LoadStateDict(IReadOnlyDictionary<string, Tensor<T>> state, bool strict = true) =>
        LoadStateDict(state, strict, source: null);

    internal LoadResult LoadStateDict(IReadOnlyDictionary<string, Tensor<T>> state, bool strict, string? source)
    {
        ArgumentNullException.ThrowIfNull(state);
        var own = StateDict();
        var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
        var errors = new List<string>();
        if (strict)
        {
            errors.AddRange(missing.Select(k => $"missing key '{k}'"));
            errors.AddRange(unexpected.Select(k => $"unexpected key '{k}'"));
        }

        foreach (var (name, target) in own)
        {
            if (state.TryGetValue(name, out var value))
            {
                if (value is null)
                {
                    errors.Add($"'{name}' is null");
                }
                else if (!value.Shape.AsSpan().SequenceEqual(target.Shape))
                {
                    errors.Add($"size mismatch for {name}: copying a param with shape {ShapeMath.Format(value.Shape)} from checkpoint, the shape in current model is {ShapeMath.Format(target.Shape)}");
                }
            }
        }

        if (errors.Count > 0)
        {
            throw new StateDictException(GetType().Name, source, errors);
        }

        using (Tensor.NoGrad())
        {
            foreach (var (name, target) in own)
            {
                if (state.TryGetValue(name, out var value))
                {
                    target.CopyFrom(value);
                }
            }
        }

        return new LoadResult(missing, unexpected);
    }

    /// <summary>
    /// A tree like PyTorch's: <c>Sequential(\n  (0): Conv2d(1, 6, kernel_size=(5, 5), ...)\n  ...)</c>.
    /// </summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        Append(sb, 0);
        return sb.ToString();
    }

    /// <summary>The arguments shown between the parentheses of <see cref="ToString"/>, such as <c>in_features=784</c>.</summary>
    protected virtual string ExtraRepr() => "";

    /// <summary>The name shown in <see cref="ToString"/>: the class name without its generic arity.</summary>
    protected virtual string DisplayName
    {
        get
        {
            var name = GetType().Name;
            var tick = name.IndexOf('`');
            return tick < 0 ? name : name[..tick];
        }
    }

    /// <summary><see cref="DisplayName"/>, for a summary's rows.</summary>
    internal string TypeName => DisplayName;

    private void Append(StringBuilder sb, int indent)
    {
        sb.Append(DisplayName).Append('(').Append(ExtraRepr());
        if (_modules.Count == 0)
        {
            sb.Append(')');
            return;
        }

        sb.Append('\n');
        foreach (var (name, child) in _modules)
        {
            sb.Append(' ', indent + 2).Append('(').Append(name).Append("): ");
            child.Append(sb, indent + 2);
            sb.Append('\n');
        }

        sb.Append(' ', indent).Append(')');
    }
}

/// <summary>Keys that <see cref="Module{T}.LoadStateDict(IReadOnlyDictionary{string, Tensor{T}}, bool)"/> did not match (PyTorch's <c>_IncompatibleKeys</c>).</summary>
public sealed record LoadResult(IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys);

/// <summary>Every problem found while loading a state dict, reported at once; nothing was loaded.</summary>
public sealed class StateDictException : ArgumentException
{
    public StateDictException(string module, string? source, IReadOnlyList<string> errors)
        : base(Format(module, source, errors))
    {
        Errors = errors;
    }

    /// <summary>One line per problem: <c>missing key 'fc.bias'</c>, <c>size mismatch for fc1.weight: ...</c>.</summary>
    public IReadOnlyList<string> Errors { get; }

    private static string Format(string module, string? source, IReadOnlyList<string> errors)
    {
        var from = source is null ? "" : $" from {source}";
        return $"Error(s) in loading state dict for {module}{from} (nothing was loaded):\n\t" + string.Join("\n\t", errors);
    }
}
