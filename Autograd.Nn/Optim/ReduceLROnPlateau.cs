using System.Text.Json.Nodes;

namespace Autograd.Optim;

/// <summary>
/// Cuts the learning rate by <c>factor</c> when a metric has stopped improving for more than <c>patience</c> epochs
/// (PyTorch's <c>ReduceLROnPlateau</c>); call <see cref="Step(double)"/> with the metric once per epoch.
/// </summary>
/// <remarks>
/// PyTorch's rule: a metric a is better than the best so far when, for mode "min", a &lt; best·(1 − threshold)
/// ("rel") or a &lt; best − threshold ("abs"), and for mode "max", a &gt; best·(1 + threshold) or a &gt; best + threshold.
/// A better metric becomes the best and resets the count of bad epochs; any other adds one. During a cooldown the
/// cooldown counter goes down by one per step and bad epochs are not counted. When the count exceeds patience, each
/// group's rate becomes max(lr·factor, minLr) — unless that changes it by eps or less — the cooldown starts and the
/// count resets.
/// </remarks>
public sealed class ReduceLROnPlateau : LRScheduler
{
    private readonly double[] _minLrs;

    public ReduceLROnPlateau(
        IOptimizer optimizer, string mode = "min", double factor = 0.1, int patience = 10, double threshold = 1e-4,
        string thresholdMode = "rel", int cooldown = 0, double minLr = 0, double eps = 1e-8)
        : this(optimizer, mode, factor, patience, threshold, thresholdMode, cooldown, [.. optimizer?.ParamGroups.Select(_ => minLr) ?? []], eps)
    {
    }

    /// <summary>As the other constructor, with a floor for each group's rate (<paramref name="minLrs"/>, one per group).</summary>
    public ReduceLROnPlateau(
        IOptimizer optimizer, string mode, double factor, int patience, double threshold, string thresholdMode, int cooldown, IReadOnlyList<double> minLrs, double eps = 1e-8)
        : base(optimizer)
    {
        ArgumentNullException.ThrowIfNull(minLrs);
        if (mode is not ("min" or "max") || thresholdMode is not ("rel" or "abs"))
        {
            throw new ArgumentException($"ReduceLROnPlateau: mode must be \"min\" or \"max\" and thresholdMode \"rel\" or \"abs\", got \"{mode}\" and \"{thresholdMode}\".", nameof(mode));
        }

        if (!(factor < 1) || !(factor >= 0))
        {
            throw new ArgumentException($"ReduceLROnPlateau: factor should be in [0, 1), got {factor}.", nameof(factor));
        }

        if (patience < 0 || cooldown < 0 || !double.IsFinite(threshold) || !(threshold >= 0) || !(eps >= 0) || !double.IsFinite(eps))
        {
            throw new ArgumentException(
                $"ReduceLROnPlateau: patience, cooldown, threshold and eps must be finite and >= 0, got patience {patience}, cooldown {cooldown}, threshold {threshold}, eps {eps}.", nameof(patience));
        }

        if (minLrs.Count != optimizer.ParamGroups.Count || minLrs.Any(lr => !(lr >= 0) || !double.IsFinite(lr)))
        {
            throw new ArgumentException(
                $"ReduceLROnPlateau: expected {optimizer.ParamGroups.Count} min lrs (finite, >= 0), got [{string.Join(", ", minLrs)}].", nameof(minLrs));
        }

        Mode = mode;
        Factor = factor;
        Patience = patience;
        Threshold = threshold;
        ThresholdMode = thresholdMode;
        Cooldown = cooldown;
        Eps = eps;
        _minLrs = [.. minLrs];
        Best = Worst;
    }

    /// <summary>"min" (lower is better, a loss) or "max" (higher is better, an accuracy).</summary>
    public string Mode { get; }

    public double Factor { get; }

    /// <summary>Bad epochs tolerated before the rate is cut.</summary>
    public int Patience { get; }

    public double Threshold { get; }

    /// <summary>"rel" or "abs".</summary>
    public string ThresholdMode { get; }

    /// <summary>Epochs after a cut during which bad epochs are not counted.</summary>
    public int Cooldown { get; }

    public IReadOnlyList<double> MinLrs => _minLrs;

    /// <summary>Cuts smaller than this are skipped.</summary>
    public double Eps { get; }

    /// <summary>The best metric so far (+∞ for "min", −∞ for "max" before the first step).</summary>
    public double Best { get; private set; }

    /// <summary>Bad epochs since the last improvement or cut.</summary>
    public int NumBadEpochs { get; private set; }

    /// <summary>Steps left in the current cooldown.</summary>
    public int CooldownCounter { get; private set; }

    private double Worst => Mode == "min" ? double.PositiveInfinity : double.NegativeInfinity;

    /// <summary>Not for this scheduler: it needs the metric.</summary>
    public override void Step() =>
        throw new InvalidOperationException("ReduceLROnPlateau: Step needs the metric; call Step(metric) once per epoch.");

    /// <summary>Records one epoch's <paramref name="metric"/> and cuts the rates if it has plateaued.</summary>
    public void Step(double metric)
    {
        if (double.IsNaN(metric))
        {
            throw new ArgumentException("ReduceLROnPlateau: the metric is NaN.", nameof(metric));
        }

        LastEpoch++;
        if (IsBetter(metric))
        {
            Best = metric;
            NumBadEpochs = 0;
        }
        else
        {
            NumBadEpochs++;
        }

        if (CooldownCounter > 0)
        {
            CooldownCounter--;
            NumBadEpochs = 0;
        }

        if (NumBadEpochs > Patience)
        {
            var groups = Optimizer.ParamGroups;
            for (var i = 0; i < groups.Count; i++)
            {
                var old = groups[i].Lr;
                var cut = Math.Max(old * Factor, _minLrs[i]);
                if (old - cut > Eps)
                {
                    groups[i].Lr = cut;
                }
            }

            CooldownCounter = Cooldown;
            NumBadEpochs = 0;
        }
    }

    private bool IsBetter(double a) => (Mode, ThresholdMode) switch
    {
        ("min", "rel") => a < Best * (1 - Threshold),
        ("min", _) => a < Best - Threshold,
        (_, "rel") => a > Best * (1 + Threshold),
        _ => a > Best + Threshold,
    };

    protected override double LearningRate(double baseLr, int epoch) =>
        throw new NotSupportedException("ReduceLROnPlateau: the rate depends on the metrics seen, not on the epoch alone.");

    private protected override void Apply(int epoch) => LearningRate(0, epoch);

    private protected override void SaveState(JsonObject state)
    {
        // ±∞ (no metric yet) has no JSON number: saved as null.
        state["best"] = double.IsInfinity(Best) ? null : Best;
        state["num_bad_epochs"] = NumBadEpochs;
        state["cooldown_counter"] = CooldownCounter;
    }

    private protected override void Check(JsonObject state, List<string> errors)
    {
        base.Check(state, errors);
        if (state.ContainsKey("best") && state["best"] is not null && Number(state, "best") is not { } best)
        {
            errors.Add("best is not a number or null");
        }

        foreach (var key in new[] { "num_bad_epochs", "cooldown_counter" })
        {
            if (Number(state, key) is not { } n || n < 0 || n != Math.Floor(n) || n > int.MaxValue)
            {
                errors.Add($"{key} is {state[key]?.ToJsonString() ?? "missing"}, expected a non-negative integer");
            }
        }
    }

    private protected override void Load(JsonObject state)
    {
        base.Load(state);
        Best = Number(state, "best") ?? Worst;
        NumBadEpochs = (int)Number(state, "num_bad_epochs")!.Value;
        CooldownCounter = (int)Number(state, "cooldown_counter")!.Value;
    }
}
