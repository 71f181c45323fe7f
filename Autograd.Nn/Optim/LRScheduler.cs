namespace Autograd.Optim;

/// <summary>
/// Changes the learning rate of every parameter group of an optimiser once per <see cref="Step"/>
/// (PyTorch's <c>LRScheduler</c>; call it after <c>optimizer.Step()</c>, usually once per epoch).
/// The rate is a closed form of the initial rate and the epoch count.
/// </summary>
public abstract class LRScheduler
{
    private readonly IOptimizer _optimizer;

    protected LRScheduler(IOptimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        _optimizer = optimizer;
        BaseLrs = [.. optimizer.ParamGroups.Select(g => g.Lr)];
    }

    /// <summary>The learning rate of each group when the scheduler was made.</summary>
    public IReadOnlyList<double> BaseLrs { get; }

    /// <summary>Number of <see cref="Step"/> calls so far.</summary>
    public int LastEpoch { get; private set; }

    /// <summary>The current learning rate of each group.</summary>
    public IReadOnlyList<double> GetLastLr() => [.. _optimizer.ParamGroups.Select(g => g.Lr)];

    /// <summary>Advances one epoch and sets every group's learning rate.</summary>
    public void Step()
    {
        LastEpoch++;
        var groups = _optimizer.ParamGroups;
        for (var i = 0; i < groups.Count; i++)
        {
            groups[i].Lr = LearningRate(BaseLrs[i], LastEpoch);
        }
    }

    /// <summary>The learning rate at <paramref name="epoch"/> of a group that started at <paramref name="baseLr"/>.</summary>
    protected abstract double LearningRate(double baseLr, int epoch);
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
