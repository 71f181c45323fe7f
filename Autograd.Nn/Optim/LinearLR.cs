namespace Autograd.Optim;

/// <summary>
/// Multiplies the base rate by a factor that goes linearly from <c>startFactor</c> to <c>endFactor</c> over
/// <c>totalIters</c> steps and then stays (PyTorch's <c>LinearLR</c>, a warmup when stepped per batch):
/// lr = base·(start + (end − start)·min(epoch, totalIters) / totalIters). The start rate is set when the
/// scheduler is made.
/// </summary>
public sealed class LinearLR : LRScheduler
{
    public LinearLR(IOptimizer optimizer, double startFactor = 1.0 / 3, double endFactor = 1.0, int totalIters = 5)
        : base(optimizer)
    {
        if (!(startFactor > 0 && startFactor <= 1))
        {
            throw new ArgumentException($"LinearLR: startFactor must be in (0, 1], got {startFactor}.", nameof(startFactor));
        }

        if (!(endFactor >= 0 && endFactor <= 1))
        {
            throw new ArgumentException($"LinearLR: endFactor must be in [0, 1], got {endFactor}.", nameof(endFactor));
        }

        if (totalIters < 1)
        {
            throw new ArgumentException($"LinearLR: totalIters must be positive, got {totalIters}.", nameof(totalIters));
        }

        StartFactor = startFactor;
        EndFactor = endFactor;
        TotalIters = totalIters;
        InitialStep();
    }

    public double StartFactor { get; }

    public double EndFactor { get; }

    public int TotalIters { get; }

    protected override double LearningRate(double baseLr, int epoch) =>
        baseLr * (StartFactor + (EndFactor - StartFactor) * Math.Min(epoch, TotalIters) / TotalIters);
}
