namespace Autograd.Optim;

/// <summary>
/// lr = base·λ(epoch) for a function λ of the step count (PyTorch's <c>LambdaLR</c>); λ(0) is applied when the
/// scheduler is made. Any schedule written as a function is one of these, for instance a linear warmup then a
/// cosine decay (docs/nn.md).
/// </summary>
public sealed class LambdaLR : LRScheduler
{
    private readonly Func<int, double> _lrLambda;

    /// <param name="optimizer">The optimiser whose groups to drive.</param>
    /// <param name="lrLambda">The factor at each step count; it must return a finite, non-negative number.</param>
    public LambdaLR(IOptimizer optimizer, Func<int, double> lrLambda)
        : base(optimizer)
    {
        ArgumentNullException.ThrowIfNull(lrLambda);
        _lrLambda = lrLambda;
        InitialStep();
    }

    protected override double LearningRate(double baseLr, int epoch)
    {
        var factor = _lrLambda(epoch);
        if (!(factor >= 0) || !double.IsFinite(factor))
        {
            throw new InvalidOperationException($"LambdaLR: lrLambda({epoch}) returned {factor}; the factor must be finite and >= 0.");
        }

        return baseLr * factor;
    }
}
