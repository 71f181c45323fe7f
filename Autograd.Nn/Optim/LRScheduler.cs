using System.Text.Json;
using System.Text.Json.Nodes;

namespace Autograd.Optim;

/// <summary>
/// Changes the learning rate of every parameter group of an optimiser once per <see cref="Step"/>
/// (PyTorch's <c>LRScheduler</c>; call it after <c>optimizer.Step()</c>, once per epoch or once per batch
/// as the schedule is meant). The rate is a closed form of the group's initial rate and the count of steps.
/// </summary>
/// <remarks>
/// PyTorch's "chainable" schedulers (LinearLR, CosineAnnealingLR, …) multiply the group's current rate by a
/// ratio each step, so two stepped together compound and a rate set by hand carries on; their documented
/// closed forms give the same rates when one scheduler drives the optimiser at a time, which is what these
/// compute (a composition is <see cref="SequentialLR"/> or a <see cref="LambdaLR"/>; there is no
/// ChainedScheduler). As in PyTorch, the first scheduler made on an optimiser records each group's rate as its
/// <see cref="ParamGroup.InitialLr"/>, and every later one starts from that.
/// </remarks>
public abstract class LRScheduler
{
    protected LRScheduler(IOptimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        Optimizer = optimizer;
        foreach (var group in optimizer.ParamGroups)
        {
            group.InitialLr ??= group.Lr;   // PyTorch's group.setdefault('initial_lr', group['lr'])
        }

        BaseLrs = [.. optimizer.ParamGroups.Select(g => g.InitialLr!.Value)];
    }

    /// <summary>The optimiser whose groups this scheduler drives.</summary>
    public IOptimizer Optimizer { get; }

    /// <summary>The learning rate each group starts from (its <see cref="ParamGroup.InitialLr"/>).</summary>
    public IReadOnlyList<double> BaseLrs { get; private protected set; }

    /// <summary>Number of <see cref="Step"/> calls so far (PyTorch's <c>last_epoch</c>).</summary>
    public int LastEpoch { get; private protected set; }

    /// <summary>The current learning rate of each group.</summary>
    public IReadOnlyList<double> GetLastLr() => [.. Optimizer.ParamGroups.Select(g => g.Lr)];

    /// <summary>Advances one epoch (or batch) and sets every group's learning rate.</summary>
    public virtual void Step()
    {
        LastEpoch++;
        Apply(LastEpoch);
    }

    /// <summary>
    /// Sets the rates of epoch 0 (PyTorch's <c>_initial_step</c>, run by its constructor): schedulers whose first
    /// rate is not the base rate (LinearLR's start factor, LambdaLR's λ(0)) call it last in their constructor, so
    /// the first optimiser step already uses it.
    /// </summary>
    protected void InitialStep() => ApplyAt(0);

    /// <summary>Sets the rates of <paramref name="epoch"/> and makes it the last epoch (SequentialLR drives its parts through it).</summary>
    internal void ApplyAt(int epoch)
    {
        LastEpoch = epoch;
        Apply(epoch);
    }

    /// <summary>The rate of one group at an epoch, for <see cref="SequentialLR"/>.</summary>
    internal double LearningRateAt(double baseLr, int epoch) => LearningRate(baseLr, epoch);

    /// <summary>Sets each group's learning rate to <see cref="LearningRate"/> of its base rate at <paramref name="epoch"/>.</summary>
    private protected virtual void Apply(int epoch)
    {
        var groups = Optimizer.ParamGroups;
        if (groups.Count != BaseLrs.Count)
        {
            throw new InvalidOperationException(
                $"{GetType().Name}: the optimiser has {groups.Count} parameter groups but the scheduler was made for {BaseLrs.Count}; make the scheduler after adding every group.");
        }

        for (var i = 0; i < groups.Count; i++)
        {
            groups[i].Lr = LearningRate(BaseLrs[i], epoch);
        }
    }

    /// <summary>The learning rate at <paramref name="epoch"/> of a group that started at <paramref name="baseLr"/>.</summary>
    protected abstract double LearningRate(double baseLr, int epoch);

    /// <summary>
    /// The scheduler's state (PyTorch's <c>state_dict()</c>): its type, <c>last_epoch</c> and <c>base_lrs</c>, plus what
    /// a scheduler keeps beyond them (the parts of a <see cref="SequentialLR"/>, the counters of
    /// <see cref="ReduceLROnPlateau"/>). The groups' current rates belong to the optimiser's state dict. The
    /// schedule itself (step size, milestones, a lambda) is the constructor's, as in PyTorch, and is not saved.
    /// </summary>
    public JsonObject StateDict()
    {
        var state = new JsonObject
        {
            ["type"] = GetType().Name,
            ["last_epoch"] = LastEpoch,
            ["base_lrs"] = new JsonArray([.. BaseLrs.Select(lr => (JsonNode)lr)]),
        };
        SaveState(state);
        return state;
    }

    /// <summary>
    /// Restores a state from <see cref="StateDict"/> into a scheduler of the same type made on an optimiser with as
    /// many groups (PyTorch's <c>load_state_dict</c>). Every problem is reported at once in an ArgumentException;
    /// then nothing was changed.
    /// </summary>
    public void LoadStateDict(JsonObject state)
    {
        CheckStateDict(state);
        Load(state);
    }

    /// <summary>Throws what <see cref="LoadStateDict"/> would throw, changing nothing.</summary>
    internal void CheckStateDict(JsonObject state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var errors = new List<string>();
        Check(state, errors);
        if (errors.Count > 0)
        {
            throw new ArgumentException($"{GetType().Name}.LoadStateDict: the state does not fit this scheduler (nothing was loaded):\n\t" + string.Join("\n\t", errors), nameof(state));
        }
    }

    /// <summary>For <see cref="SequentialLR"/>, which checks and loads its parts.</summary>
    internal void CheckPart(JsonObject state, List<string> errors) => Check(state, errors);

    internal void LoadPart(JsonObject state) => Load(state);

    /// <summary>Adds what this scheduler keeps beyond last_epoch and base_lrs.</summary>
    private protected virtual void SaveState(JsonObject state)
    {
    }

    /// <summary>Collects what is wrong with <paramref name="state"/> for this scheduler.</summary>
    private protected virtual void Check(JsonObject state, List<string> errors)
    {
        if (state["type"]?.GetValueKind() != JsonValueKind.String || state["type"]!.GetValue<string>() != GetType().Name)
        {
            errors.Add($"type is {state["type"]?.ToJsonString() ?? "missing"}, expected \"{GetType().Name}\"");
        }

        if (Number(state, "last_epoch") is not { } epoch || epoch < 0 || epoch != Math.Floor(epoch) || epoch > int.MaxValue)
        {
            errors.Add($"last_epoch is {state["last_epoch"]?.ToJsonString() ?? "missing"}, expected a non-negative integer");
        }

        if (Numbers(state, "base_lrs") is not { } lrs || lrs.Length != Optimizer.ParamGroups.Count || lrs.Any(lr => !(lr >= 0) || !double.IsFinite(lr)))
        {
            errors.Add($"base_lrs is {state["base_lrs"]?.ToJsonString() ?? "missing"}, expected {Optimizer.ParamGroups.Count} finite rates >= 0 (one per group)");
        }
    }

    /// <summary>Sets the state; <see cref="Check"/> has passed.</summary>
    private protected virtual void Load(JsonObject state)
    {
        LastEpoch = (int)Number(state, "last_epoch")!.Value;
        BaseLrs = Numbers(state, "base_lrs")!;
    }

    /// <summary>The number under <paramref name="key"/>, or null when it is missing or not a number.</summary>
    private protected static double? Number(JsonObject state, string key) =>
        state[key] is JsonValue v && v.GetValueKind() == JsonValueKind.Number ? v.Deserialize<double>() : null;

    /// <summary>The array of numbers under <paramref name="key"/>, or null.</summary>
    private protected static double[]? Numbers(JsonObject state, string key)
    {
        if (state[key] is not JsonArray array || array.Any(n => n is not JsonValue v || v.GetValueKind() != JsonValueKind.Number))
        {
            return null;
        }

        return [.. array.Select(n => n!.Deserialize<double>())];
    }
}

/// <summary>Multiplies the learning rate by <c>gamma</c> every <c>stepSize</c> epochs: lr = base·γ^⌊epoch / stepSize⌋.</summary>
public sealed class StepLR : LRScheduler
{
    public StepLR(IOptimizer optimizer, int stepSize, double gamma = 0.1)
        : base(optimizer)
    {
        if (stepSize < 1 || !double.IsFinite(gamma))
        {
            throw new ArgumentException($"StepLR: step size must be positive and gamma finite, got step size {stepSize}, gamma {gamma}.", nameof(stepSize));
        }

        StepSize = stepSize;
        Gamma = gamma;
    }

    public int StepSize { get; }

    public double Gamma { get; }

    protected override double LearningRate(double baseLr, int epoch) => baseLr * Math.Pow(Gamma, epoch / StepSize);
}

/// <summary>
/// Cosine annealing (Loshchilov and Hutter, 2017, without restarts):
/// lr = η_min + (base − η_min)·(1 + cos(π·epoch / T_max)) / 2, PyTorch's closed form.
/// </summary>
public sealed class CosineAnnealingLR : LRScheduler
{
    public CosineAnnealingLR(IOptimizer optimizer, int tMax, double etaMin = 0)
        : base(optimizer)
    {
        if (tMax < 1 || !double.IsFinite(etaMin))
        {
            throw new ArgumentException($"CosineAnnealingLR: T_max must be positive and eta_min finite, got T_max {tMax}, eta_min {etaMin}.", nameof(tMax));
        }

        TMax = tMax;
        EtaMin = etaMin;
    }

    public int TMax { get; }

    public double EtaMin { get; }

    protected override double LearningRate(double baseLr, int epoch) =>
        EtaMin + (baseLr - EtaMin) * (1 + Math.Cos(Math.PI * epoch / TMax)) / 2;
}
