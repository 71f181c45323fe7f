namespace Autograd.Optim;

/// <summary>
/// The 1cycle policy (Smith and Topin, 2017), PyTorch's <c>OneCycleLR</c>, stepped once per batch: the rate
/// rises from maxLr / divFactor to maxLr over the first pctStart of <c>totalSteps</c>, then falls to
/// maxLr / (divFactor·finalDivFactor); with <c>threePhase</c> it first falls back to the start rate
/// symmetrically and only then to the minimum. Momentum (SGD's momentum, Adam's β1) moves the other way,
/// between maxMomentum and baseMomentum, unless <c>cycleMomentum</c> is false.
/// </summary>
/// <remarks>
/// PyTorch's phases, for step s: phase i runs while s ≤ endᵢ (the last one beyond), with
/// pct = (s − endᵢ₋₁) / (endᵢ − endᵢ₋₁), end₀ = 0, and anneals from its start value to its end value:
/// <code>
/// two phases:   end = pctStart·T − 1: initial → max,  momentum max → base
///               end = T − 1:          max → min,      momentum base → max
/// three phases: end = pctStart·T − 1: initial → max,  momentum max → base
///               end = 2·pctStart·T − 2: max → initial, momentum base → max
///               end = T − 1:          initial → min,  momentum max → max
/// cos:    end + (start − end)/2 · (1 + cos(π·pct));   linear: start + (end − start)·pct
/// </code>
/// Every group's <see cref="ParamGroup.InitialLr"/> becomes maxLr / divFactor, as PyTorch sets its initial_lr.
/// As there, cycling momentum on an SGD made without momentum turns momentum on.
/// </remarks>
public sealed class OneCycleLR : LRScheduler
{
    private readonly (double End, double StartLr, double EndLr, double StartMomentum, double EndMomentum)[] _phases;

    public OneCycleLR(
        IOptimizer optimizer, double maxLr, int totalSteps, double pctStart = 0.3, string annealStrategy = "cos",
        bool cycleMomentum = true, double baseMomentum = 0.85, double maxMomentum = 0.95,
        double divFactor = 25.0, double finalDivFactor = 1e4, bool threePhase = false)
        : base(optimizer)
    {
        ArgumentNullException.ThrowIfNull(annealStrategy);
        if (!(maxLr > 0) || !double.IsFinite(maxLr))
        {
            throw new ArgumentException($"OneCycleLR: maxLr must be finite and positive, got {maxLr}.", nameof(maxLr));
        }

        if (totalSteps < 1)
        {
            throw new ArgumentException($"OneCycleLR: expected a positive totalSteps, got {totalSteps}.", nameof(totalSteps));
        }

        if (!(pctStart >= 0 && pctStart <= 1))
        {
            throw new ArgumentException($"OneCycleLR: expected pctStart in [0, 1], got {pctStart}.", nameof(pctStart));
        }

        if (annealStrategy is not ("cos" or "linear"))
        {
            throw new ArgumentException($"OneCycleLR: annealStrategy must be \"cos\" or \"linear\", got \"{annealStrategy}\".", nameof(annealStrategy));
        }

        if (!(divFactor > 0) || !double.IsFinite(divFactor) || !(finalDivFactor > 0) || !double.IsFinite(finalDivFactor))
        {
            throw new ArgumentException($"OneCycleLR: divFactor and finalDivFactor must be finite and positive, got {divFactor} and {finalDivFactor}.", nameof(divFactor));
        }

        if (cycleMomentum)
        {
            if (!(baseMomentum >= 0) || !double.IsFinite(baseMomentum) || !(maxMomentum >= 0) || !double.IsFinite(maxMomentum))
            {
                throw new ArgumentException($"OneCycleLR: baseMomentum and maxMomentum must be finite and >= 0, got {baseMomentum} and {maxMomentum}.", nameof(baseMomentum));
            }

            foreach (var group in optimizer.ParamGroups)
            {
                if (group.Options is not (SgdOptions or AdamOptions))
                {
                    throw new ArgumentException(
                        $"OneCycleLR: cycleMomentum needs an optimiser with a momentum or a beta1 (SGD, Adam, AdamW), got options {group.Options.GetType().Name}; pass cycleMomentum: false.",
                        nameof(optimizer));
                }
            }
        }

        MaxLr = maxLr;
        TotalSteps = totalSteps;
        AnnealStrategy = annealStrategy;
        CycleMomentum = cycleMomentum;
        var initial = maxLr / divFactor;
        var min = initial / finalDivFactor;
        _phases = threePhase
            ?
            [
                (pctStart * totalSteps - 1, initial, maxLr, maxMomentum, baseMomentum),
                (2 * pctStart * totalSteps - 2, maxLr, initial, baseMomentum, maxMomentum),
                (totalSteps - 1, initial, min, maxMomentum, maxMomentum),
            ]
            :
            [
                (pctStart * totalSteps - 1, initial, maxLr, maxMomentum, baseMomentum),
                (totalSteps - 1, maxLr, min, baseMomentum, maxMomentum),
            ];
        var start = 0.0;
        foreach (var phase in _phases)
        {
            // PyTorch divides by this length and fails (ZeroDivisionError) on reaching such a phase; fail here instead.
            if (phase.End == start)
            {
                throw new ArgumentException(
                    $"OneCycleLR: pctStart {pctStart} with totalSteps {totalSteps} gives a phase of zero steps (phases end at steps {string.Join(", ", _phases.Select(p => p.End))}).",
                    nameof(pctStart));
            }

            start = phase.End;
        }

        foreach (var group in optimizer.ParamGroups)
        {
            group.InitialLr = initial;
        }

        BaseLrs = [.. optimizer.ParamGroups.Select(_ => initial)];
        InitialStep();
    }

    public double MaxLr { get; }

    public int TotalSteps { get; }

    /// <summary>"cos" or "linear".</summary>
    public string AnnealStrategy { get; }

    public bool CycleMomentum { get; }

    /// <summary>The rate at a step: a function of the step alone, the same for every group.</summary>
    protected override double LearningRate(double baseLr, int epoch) => At(epoch).Lr;

    private protected override void Apply(int epoch)
    {
        if (epoch > TotalSteps)
        {
            throw new InvalidOperationException($"OneCycleLR: tried to step {epoch} times; the specified number of total steps is {TotalSteps}.");
        }

        var (lr, momentum) = At(epoch);
        foreach (var group in Optimizer.ParamGroups)
        {
            var options = group.Options with { Lr = lr };
            group.Options = !CycleMomentum ? options : options switch
            {
                SgdOptions sgd => sgd with { Momentum = momentum },
                AdamOptions adam => adam with { Beta1 = momentum },
                _ => throw new InvalidOperationException($"OneCycleLR: options {options.GetType().Name} have no momentum to cycle."),
            };
        }
    }

    private (double Lr, double Momentum) At(int step)
    {
        var start = 0.0;
        for (var i = 0; ; i++)
        {
            var phase = _phases[i];
            if (step <= phase.End || i == _phases.Length - 1)
            {
                var pct = (step - start) / (phase.End - start);
                return (Anneal(phase.StartLr, phase.EndLr, pct), Anneal(phase.StartMomentum, phase.EndMomentum, pct));
            }

            start = phase.End;
        }
    }

    private double Anneal(double start, double end, double pct) =>
        AnnealStrategy == "cos" ? end + (start - end) / 2.0 * (Math.Cos(Math.PI * pct) + 1) : (end - start) * pct + start;
}
