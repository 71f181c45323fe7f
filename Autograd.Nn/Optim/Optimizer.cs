using System.Numerics;
using Autograd.Nn;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd.Optim;

/// <summary>
/// Hyper-parameters shared by every optimiser. Each optimiser's options are a record deriving from
/// this one, so a parameter group overrides the defaults with <c>with</c>:
/// <c>new ParamGroup&lt;float&gt;(head.Parameters(), defaults with { Lr = 0.1 })</c>.
/// </summary>
public abstract record OptimizerOptions
{
    /// <summary>Learning rate.</summary>
    public double Lr { get; init; }

    /// <summary>Throws for values the update rule does not allow; names the option and the optimiser.</summary>
    internal virtual void Validate(string optimizer)
    {
        if (!(Lr >= 0) || !double.IsFinite(Lr))
        {
            throw new ArgumentException($"{optimizer}: invalid learning rate {Lr} (must be finite and >= 0).");
        }
    }

    /// <summary>Throws for the first value that is not finite and >= 0, naming it.</summary>
    private protected static void RequireNonNegative(string optimizer, params ReadOnlySpan<(string Name, double Value)> values)
    {
        foreach (var (name, value) in values)
        {
            if (!(value >= 0) || !double.IsFinite(value))
            {
                throw new ArgumentException($"{optimizer}: invalid {name} {value} (must be finite and >= 0).");
            }
        }
    }
}

/// <summary>What LR schedulers see of a parameter group: its options and learning rate.</summary>
public abstract class ParamGroup
{
    private OptimizerOptions? _options;

    private protected ParamGroup(OptimizerOptions? options)
    {
        _options = options;
    }

    /// <summary>The group's hyper-parameters; the optimiser's defaults when the group was made without any.</summary>
    public OptimizerOptions Options
    {
        get => _options ?? throw new InvalidOperationException("ParamGroup: the group has no options until it is added to an optimiser.");
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (_options is not null && value.GetType() != _options.GetType())
            {
                throw new ArgumentException($"ParamGroup: options of type {value.GetType().Name} given to a group of {_options.GetType().Name}.", nameof(value));
            }

            _options = value;
        }
    }

    internal bool HasOptions => _options is not null;

    /// <summary>The group's learning rate (what schedulers change): <c>Options = Options with { Lr = value }</c>.</summary>
    public double Lr
    {
        get => Options.Lr;
        set => Options = Options with { Lr = value };
    }

    /// <summary>
    /// The rate the group's LR schedulers start from (PyTorch's <c>group['initial_lr']</c>): set to <see cref="Lr"/>
    /// by the first scheduler made on the optimiser, so that a second one (the parts of a
    /// <see cref="SequentialLR"/>) starts from it and not from the rate the first has already set. Null until then;
    /// set it to restart a schedule from another rate.
    /// </summary>
    public double? InitialLr
    {
        get;
        set
        {
            if (value is { } lr && (!(lr >= 0) || !double.IsFinite(lr)))
            {
                throw new ArgumentException($"ParamGroup: InitialLr must be finite and >= 0, got {lr}.", nameof(value));
            }

            field = value;
        }
    }
}

/// <summary>A set of parameters optimised with the same hyper-parameters (PyTorch's param_groups entries).</summary>
public sealed class ParamGroup<T> : ParamGroup
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <param name="parameters">The tensors to optimise.</param>
    /// <param name="options">Overrides of the optimiser's defaults (for example <c>defaults with { Lr = 0.1 }</c>); null takes the defaults.</param>
    public ParamGroup(IEnumerable<Tensor<T>> parameters, OptimizerOptions? options = null)
        : base(options)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Parameters = [.. parameters];
    }

    public IReadOnlyList<Tensor<T>> Parameters { get; }
}

/// <summary>What an LR scheduler drives: the parameter groups and their learning rates.</summary>
public interface IOptimizer
{
    IReadOnlyList<ParamGroup> ParamGroups { get; }
}

/// <summary>
/// What every optimiser of <typeparamref name="T"/> parameters offers, whatever its options and state (PyTorch's
/// <c>torch.optim.Optimizer</c> as a type to hold): stepping, zeroing gradients, and its state dict for checkpoints.
/// </summary>
public abstract class Optimizer<T> : IOptimizer
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private protected Optimizer()
    {
    }

    public abstract IReadOnlyList<ParamGroup<T>> ParamGroups { get; }

    IReadOnlyList<ParamGroup> IOptimizer.ParamGroups => ParamGroups;

    /// <summary>One update of every parameter that has a gradient.</summary>
    public abstract void Step();

    /// <summary>Clears the gradients of every parameter: zeroed in place, or dropped with <paramref name="setToNone"/>.</summary>
    public abstract void ZeroGrad(bool setToNone = false);

    /// <summary>
    /// A snapshot of the optimiser (PyTorch's <c>state_dict()</c>): each group's options, initial rate and parameter
    /// indices, and the state of each parameter that has stepped, keyed by its index in the order of the groups'
    /// parameters. The tensors are copies, so later steps do not change the snapshot.
    /// </summary>
    public abstract OptimizerStateDict<T> StateDict();

    /// <summary>
    /// Restores a snapshot from <see cref="StateDict"/> into an optimiser over parameters of the same shapes in the
    /// same groups (PyTorch's <c>load_state_dict</c>): the groups' options and the per-parameter state are replaced
    /// by copies of the snapshot's. Every problem is collected and thrown at once in a
    /// <see cref="StateDictException"/>; then nothing was changed.
    /// </summary>
    public abstract void LoadStateDict(OptimizerStateDict<T> stateDict);

    /// <summary>Throws what <see cref="LoadStateDict"/> would throw, changing nothing.</summary>
    internal abstract void CheckStateDict(OptimizerStateDict<T> stateDict);
}

/// <summary>
/// The bookkeeping every optimiser shares (PyTorch's <c>torch.optim.Optimizer</c>): parameter
/// groups with the defaults merged in, per-parameter state created lazily on the first step and
/// keyed by the parameter itself, <see cref="ZeroGrad"/>, and a <see cref="Step"/> that runs the
/// optimiser's kernel on each parameter that has a gradient, in place and under no-grad.
/// </summary>
/// <typeparam name="T">Element type of the parameters.</typeparam>
/// <typeparam name="TOptions">The optimiser's hyper-parameters.</typeparam>
/// <typeparam name="TState">Per-parameter state (momentum buffer, moment estimates).</typeparam>
public abstract class Optimizer<T, TOptions, TState> : Optimizer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
    where TOptions : OptimizerOptions
    where TState : class
{
    private readonly List<ParamGroup<T>> _groups = [];
    private readonly Dictionary<Tensor<T>, TState> _state = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<Tensor<T>> _all = new(ReferenceEqualityComparer.Instance);

    protected Optimizer(IEnumerable<ParamGroup<T>> groups, TOptions defaults)
    {
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentNullException.ThrowIfNull(defaults);
        defaults.Validate(Name);
        Defaults = defaults;
        foreach (var group in groups)
        {
            AddParamGroup(group);
        }

        if (_groups.Count == 0)
        {
            throw new ArgumentException($"{Name}: got an empty parameter list.", nameof(groups));
        }
    }

    /// <summary>The optimiser's name in error messages ("SGD", "Adam").</summary>
    protected abstract string Name { get; }

    /// <summary>The options a group made without any gets.</summary>
    public TOptions Defaults { get; }

    public override IReadOnlyList<ParamGroup<T>> ParamGroups => _groups;

    /// <summary>
    /// Adds a group (PyTorch's <c>add_param_group</c>): its options default to <see cref="Defaults"/>.
    /// A parameter may belong to one group only, must be a leaf, and must be contiguous (the
    /// update runs over its elements in place).
    /// </summary>
    public void AddParamGroup(ParamGroup<T> group)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (!group.HasOptions)
        {
            group.Options = Defaults;
        }

        if (group.Options is not TOptions options)
        {
            throw new ArgumentException($"{Name}: a parameter group has options of type {group.Options.GetType().Name}, expected {typeof(TOptions).Name}.", nameof(group));
        }

        options.Validate(Name);
        if (group.Parameters.Count == 0)
        {
            throw new ArgumentException($"{Name}: a parameter group has no parameters.", nameof(group));
        }

        var inGroup = new HashSet<Tensor<T>>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < group.Parameters.Count; i++)
        {
            var p = group.Parameters[i] ?? throw new ArgumentException($"{Name}: parameter {i} of group {_groups.Count} is null.", nameof(group));
            if (!p.IsLeaf)
            {
                throw new ArgumentException($"{Name}: can't optimize a non-leaf tensor (parameter {i} of group {_groups.Count}, shape {ShapeMath.Format(p.Shape)}, the result of '{p.GradFn!.OpName}').", nameof(group));
            }

            if (!p.IsContiguous)
            {
                throw new ArgumentException($"{Name}: parameter {i} of group {_groups.Count} (shape {ShapeMath.Format(p.Shape)}, strides {ShapeMath.Format(p.Strides)}) is not contiguous; parameters are updated in place.", nameof(group));
            }

            if (_all.Contains(p))
            {
                throw new ArgumentException($"{Name}: some parameters appear in more than one parameter group (parameter {i} of group {_groups.Count}, shape {ShapeMath.Format(p.Shape)}).", nameof(group));
            }

            if (!inGroup.Add(p))
            {
                // PyTorch only warns; stepping a parameter twice per Step() is never what was meant.
                throw new ArgumentException($"{Name}: parameter {i} of group {_groups.Count} (shape {ShapeMath.Format(p.Shape)}) appears twice in the group.", nameof(group));
            }
        }

        foreach (var p in group.Parameters)
        {
            _all.Add(p);
        }

        _groups.Add(group);
    }

    /// <summary>The state of a parameter, or null before its first step.</summary>
    public TState? GetState(Tensor<T> parameter) => _state.GetValueOrDefault(parameter);

    public override void ZeroGrad(bool setToNone = false)
    {
        foreach (var group in _groups)
        {
            foreach (var p in group.Parameters)
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
    }

    /// <summary>One update of every parameter that has a gradient; parameters without one are skipped.</summary>
    public override void Step()
    {
        using (Tensor.NoGrad())
        {
            foreach (var group in _groups)
            {
                var options = (TOptions)group.Options;
                options.Validate(Name);
                foreach (var p in group.Parameters)
                {
                    if (p.Grad is not { } grad)
                    {
                        continue;
                    }

                    if (!_state.TryGetValue(p, out var state))
                    {
                        state = CreateState(p);
                        _state.Add(p, state);
                    }

                    using (var pw = TensorMemory.Writable(p, Name, "a parameter"))
                    using (var gr = grad.Read())
                    {
                        Update(p, pw.Elements, gr.ContiguousElements, state, options);
                    }

                    TensorMemory.Written(p);
                }
            }
        }
    }

    public override OptimizerStateDict<T> StateDict()
    {
        var dict = new OptimizerStateDict<T>();
        var index = 0;
        foreach (var group in _groups)
        {
            var indices = new int[group.Parameters.Count];
            for (var i = 0; i < indices.Length; i++, index++)
            {
                indices[i] = index;
                if (_state.TryGetValue(group.Parameters[i], out var state))
                {
                    var entry = new ParameterState<T>();
                    SaveState(state, entry);
                    dict.State.Add(index, entry);
                }
            }

            dict.ParamGroups.Add(new ParamGroupState(group.Options, group.InitialLr, indices));
        }

        return dict;
    }

    public override void LoadStateDict(OptimizerStateDict<T> stateDict)
    {
        var (options, states) = Restore(stateDict);
        for (var g = 0; g < _groups.Count; g++)
        {
            _groups[g].Options = options[g];
            _groups[g].InitialLr = stateDict.ParamGroups[g].InitialLr;
        }

        _state.Clear();
        foreach (var (parameter, state) in states)
        {
            _state.Add(parameter, state);
        }
    }

    internal override void CheckStateDict(OptimizerStateDict<T> stateDict) => Restore(stateDict);

    /// <summary>Checks <paramref name="stateDict"/> against this optimiser and builds the options and states it holds; throws every problem at once.</summary>
    internal (TOptions[] Options, List<(Tensor<T> Parameter, TState State)> States) Restore(OptimizerStateDict<T> stateDict)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        var errors = new List<string>();
        var options = new TOptions[_groups.Count];
        var states = new List<(Tensor<T>, TState)>();
        var parameters = _groups.SelectMany(g => g.Parameters).ToArray();
        if (stateDict.ParamGroups.Count != _groups.Count)
        {
            errors.Add($"the state dict has {stateDict.ParamGroups.Count} parameter groups but the optimiser has {_groups.Count}");
        }
        else
        {
            var index = 0;
            for (var g = 0; g < _groups.Count; g++)
            {
                var saved = stateDict.ParamGroups[g];
                var count = _groups[g].Parameters.Count;
                if (saved?.Params is null)
                {
                    errors.Add($"group {g} is null or has no parameter list");
                    index += count;
                    continue;
                }

                if (saved.Params.Count != count || !saved.Params.SequenceEqual(Enumerable.Range(index, count)))
                {
                    errors.Add($"group {g} holds parameters [{string.Join(", ", saved.Params)}] in the state dict but {count} parameters from index {index} in the optimiser");
                }

                index += count;
                if (saved.Options is not TOptions groupOptions || saved.Options.GetType() != _groups[g].Options.GetType())
                {
                    errors.Add($"group {g} has options of type {saved.Options?.GetType().Name ?? "null"} but the optimiser's are {_groups[g].Options.GetType().Name}");
                    continue;
                }

                try
                {
                    groupOptions.Validate(Name);
                    options[g] = groupOptions;
                }
                catch (ArgumentException e)
                {
                    errors.Add($"group {g}: {e.Message}");
                }
            }
        }

        foreach (var (index, entry) in stateDict.State)
        {
            if ((uint)index >= (uint)parameters.Length || entry is null)
            {
                errors.Add($"state for parameter {index}, but the optimiser has {parameters.Length} parameters (0..{parameters.Length - 1})");
                continue;
            }

            try
            {
                states.Add((parameters[index], LoadState(parameters[index], entry)));
            }
            catch (ArgumentException e)
            {
                errors.Add($"state of parameter {index} (shape {ShapeMath.Format(parameters[index].Shape)}): {e.Message}");
            }
        }

        if (errors.Count > 0)
        {
            throw new StateDictException(Name, null, errors);
        }

        return (options, states);
    }

    /// <summary>The state of a parameter on its first step.</summary>
    protected abstract TState CreateState(Tensor<T> parameter);

    /// <summary>Copies a parameter's state into <paramref name="entry"/> under PyTorch's keys (<c>step</c>, <c>exp_avg</c>, …).</summary>
    protected abstract void SaveState(TState state, ParameterState<T> entry);

    /// <summary>A parameter's state from a saved <paramref name="entry"/> (copies of its tensors); throws an ArgumentException naming a missing key or a shape that does not match.</summary>
    protected abstract TState LoadState(Tensor<T> parameter, ParameterState<T> entry);

    /// <summary>The update rule: writes <paramref name="param"/> (the elements of <paramref name="parameter"/>) and the state in place from <paramref name="grad"/>.</summary>
    protected abstract void Update(Tensor<T> parameter, Span<T> param, ReadOnlySpan<T> grad, TState state, TOptions options);
}

/// <summary>The saved state of one parameter: its tensors (moments, buffers) and its scalars (step counts), under PyTorch's keys.</summary>
public sealed class ParameterState<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public Dictionary<string, Tensor<T>> Tensors { get; } = [];

    public Dictionary<string, double> Scalars { get; } = [];

    /// <summary>A copy of tensor <paramref name="key"/>, which must have the parameter's shape; null when absent and not <paramref name="required"/>.</summary>
    public Tensor<T>? GetTensor(string key, Tensor<T> parameter, bool required = true)
    {
        if (!Tensors.TryGetValue(key, out var value) || value is null)
        {
            return required ? throw new ArgumentException($"missing '{key}'") : null;
        }

        if (!value.Shape.AsSpan().SequenceEqual(parameter.Shape))
        {
            throw new ArgumentException($"'{key}' has shape {ShapeMath.Format(value.Shape)} but the parameter has {ShapeMath.Format(parameter.Shape)}");
        }

        using (Autograd.Tensor.NoGrad())
        {
            return value.Detach().Clone();
        }
    }

    /// <summary>Scalar <paramref name="key"/> as a non-negative whole number (a step count).</summary>
    public long GetCount(string key)
    {
        if (!Scalars.TryGetValue(key, out var value))
        {
            throw new ArgumentException($"missing '{key}'");
        }

        if (!(value >= 0) || value != Math.Floor(value) || value > (1L << 53))
        {
            throw new ArgumentException($"'{key}' is {value}, not a step count");
        }

        return (long)value;
    }

    /// <summary>Adds a copy of <paramref name="tensor"/> under <paramref name="key"/> (nothing when it is null).</summary>
    public void Add(string key, Tensor<T>? tensor)
    {
        if (tensor is not null)
        {
            using (Autograd.Tensor.NoGrad())
            {
                Tensors[key] = tensor.Detach().Clone();
            }
        }
    }
}

/// <summary>One parameter group as saved: its options, its <see cref="ParamGroup.InitialLr"/> and the indices of its parameters.</summary>
public sealed record ParamGroupState(OptimizerOptions Options, double? InitialLr, IReadOnlyList<int> Params);

/// <summary>
/// An optimiser's state dict (PyTorch's <c>{"state": {index: {...}}, "param_groups": [...]}</c>): per-parameter
/// state keyed by the parameter's index in the order of the groups' parameters, and one entry per group.
/// </summary>
public sealed class OptimizerStateDict<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public SortedDictionary<int, ParameterState<T>> State { get; } = [];

    public List<ParamGroupState> ParamGroups { get; } = [];
}

/// <summary>The steps the update rules share.</summary>
internal static class Optimizers
{
    /// <summary>d = ±g + wd·p (PyTorch: <c>grad = -grad if maximize</c>, then <c>grad.add(param, alpha=weight_decay)</c>).</summary>
    public static void DecayedGradient<T>(ReadOnlySpan<T> param, ReadOnlySpan<T> grad, Span<T> d, bool maximize, double weightDecay)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (maximize)
        {
            TP.Negate(grad, d);
        }
        else
        {
            grad.CopyTo(d);
        }

        if (weightDecay != 0)
        {
            TP.MultiplyAdd(param, T.CreateChecked(weightDecay), d, d);
        }
    }
}
