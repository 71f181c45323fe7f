using System.Numerics;
using Autograd.Nn;

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
/// The bookkeeping every optimiser shares (PyTorch's <c>torch.optim.Optimizer</c>): parameter
/// groups with the defaults merged in, per-parameter state created lazily on the first step and
/// keyed by the parameter itself, <see cref="ZeroGrad"/>, and a <see cref="Step"/> that runs the
/// optimiser's kernel on each parameter that has a gradient, in place and under no-grad.
/// </summary>
/// <typeparam name="T">Element type of the parameters.</typeparam>
/// <typeparam name="TOptions">The optimiser's hyper-parameters.</typeparam>
/// <typeparam name="TState">Per-parameter state (momentum buffer, moment estimates).</typeparam>
public abstract class Optimizer<T, TOptions, TState> : IOptimizer
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

    public IReadOnlyList<ParamGroup<T>> ParamGroups => _groups;

    IReadOnlyList<ParamGroup> IOptimizer.ParamGroups => _groups;

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

    /// <summary>Clears the gradients of every parameter: zeroed in place, or dropped with <paramref name="setToNone"/>.</summary>
    public void ZeroGrad(bool setToNone = false)
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
    public void Step()
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

    /// <summary>The state of a parameter on its first step.</summary>
    protected abstract TState CreateState(Tensor<T> parameter);

    /// <summary>The update rule: writes <paramref name="param"/> (the elements of <paramref name="parameter"/>) and the state in place from <paramref name="grad"/>.</summary>
    protected abstract void Update(Tensor<T> parameter, Span<T> param, ReadOnlySpan<T> grad, TState state, TOptions options);
}
