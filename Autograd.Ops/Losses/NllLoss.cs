using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class NllLossExtensions
{
    extension<T>(Tensor<T> logProbs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Negative log-likelihood (PyTorch's nll_loss) of log-probabilities [N, C], [N, C, d1, …] (class
        /// dimension 1) or unbatched [C], against class indices <paramref name="targets"/> given row-major
        /// over [N, d1, …] (one index for unbatched input). Per target lᵢ = −w[tᵢ]·logProbs[i, tᵢ], and 0 where
        /// tᵢ = <paramref name="ignoreIndex"/>; <paramref name="weight"/> w has one entry per class (default
        /// 1). <paramref name="reduction"/>: None gives the lᵢ in shape [N, d1, …]; Sum their sum; Mean (the
        /// default) Σ lᵢ / Σ w[tᵢ] over the targets not ignored, NaN when every target is ignored (as PyTorch).
        /// VJP: dlogProbs[i, tᵢ] = −w[tᵢ]·ĝᵢ, zero elsewhere, ĝ = g per target (g / Σ w[tᵢ] for the mean),
        /// written as g times a constant tensor so it is differentiable in g. Class weights get no gradient.
        /// </summary>
        public Tensor<T> NllLoss(int[] targets, Tensor<T>? weight = null, int ignoreIndex = -100, Reduction reduction = Reduction.Mean, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(logProbs);
            var plan = ClassTargets<T>.Plan(logProbs, targets, weight, ignoreIndex, reduction, "NllLoss");
            var perTarget = reduction == Reduction.None ? Tensor<T>.ZeroFilled((int[])plan.OutputShape.Clone()) : null;
            T sum;
            using (var xr = logProbs.Read())
            {
                var xs = xr.ContiguousElements;
                if (perTarget is null)
                {
                    sum = Losses(plan, xs, []);
                }
                else
                {
                    using var lw = perTarget.Write();
                    sum = Losses(plan, xs, lw.Elements);
                }
            }

            var result = reduction switch
            {
                Reduction.None => perTarget!,
                Reduction.Sum => Tensor.Scalar(sum),
                _ => Tensor.Scalar(sum / plan.TotalWeight()),
            };

            if (Tape.ShouldRecord(logProbs))
            {
                Tape.Record("NllLoss", new CallSite(callerFile, callerLine), result, [logProbs], (g, grads) =>
                {
                    // dlogProbs = g (a class axis of size 1 inserted for None) ⊙ M, M[i, tᵢ] = −w[tᵢ]·scale.
                    var scale = reduction == Reduction.Mean ? T.One / plan.TotalWeight() : T.One;
                    var mask = Tensor<T>.ZeroFilled((int[])logProbs.ShapeArray.Clone());
                    using (var mw = mask.Write())
                    {
                        var m = mw.Elements;
                        for (var k = 0; k < plan.Count; k++)
                        {
                            if (!plan.Ignored(k))
                            {
                                m[plan.InputIndex(k)] = -plan.Weight(k) * scale;
                            }
                        }
                    }

                    var gb = reduction == Reduction.None ? g.Reshape(plan.GradientShape) : g;
                    grads[0] = gb.Mul(mask);
                });
            }

            return result;
        }
    }

    /// <summary>
    /// Σ of the per-target losses −w[tᵢ]·logProbs[i, tᵢ] (ignored targets count 0), <paramref name="xs"/>
    /// row-major; each loss is also stored in <paramref name="losses"/> unless that is empty (a reduced loss).
    /// </summary>
    private static T Losses<T>(ClassTargets<T> plan, ReadOnlySpan<T> xs, Span<T> losses)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var sum = T.Zero;
        for (var k = 0; k < plan.Count; k++)
        {
            if (plan.Ignored(k))
            {
                continue;
            }

            var loss = -plan.Weight(k) * xs[plan.InputIndex(k)];
            if (!losses.IsEmpty)
            {
                losses[k] = loss;
            }

            sum += loss;
        }

        return sum;
    }
}

/// <summary>
/// Class-index targets checked against an input [N, C, d…] (or [C]): the layout that maps target k
/// (row-major over [N, d…]) to its input element, which targets are ignored, their class weights and
/// their total. Shared by NllLoss and CrossEntropy.
/// </summary>
internal sealed class ClassTargets<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int[] _targets;
    private readonly int _spatial;
    private readonly int _classes;
    private readonly int _ignoreIndex;
    private readonly T[]? _weights;

    private ClassTargets(int[] targets, int classes, int spatial, int ignoreIndex, T[]? weights, int[] outputShape, int[] gradientShape)
    {
        _targets = targets;
        _classes = classes;
        _spatial = spatial;
        _ignoreIndex = ignoreIndex;
        _weights = weights;
        OutputShape = outputShape;
        GradientShape = gradientShape;
    }

    /// <summary>Number of targets.</summary>
    public int Count => _targets.Length;

    /// <summary>Shape of the unreduced loss: [N, d…] ([] for unbatched input).</summary>
    public int[] OutputShape { get; }

    /// <summary>OutputShape with a size-1 class axis at dimension 1 (for unbatched input: [1]), to broadcast over classes.</summary>
    public int[] GradientShape { get; }

    public bool Ignored(int k) => _targets[k] == _ignoreIndex;

    /// <summary>Row-major index in the input of target k's log-probability.</summary>
    public int InputIndex(int k) => ((k / _spatial * _classes) + _targets[k]) * _spatial + k % _spatial;

    /// <summary>The class weight of target k (1 without weights).</summary>
    public T Weight(int k) => _weights is null ? T.One : _weights[_targets[k]];

    /// <summary>Σ w[tᵢ] over the targets not ignored: the divisor of the mean.</summary>
    public T TotalWeight()
    {
        var total = T.Zero;
        for (var k = 0; k < Count; k++)
        {
            if (!Ignored(k))
            {
                total += Weight(k);
            }
        }

        return total;
    }

    public static ClassTargets<T> Plan(Tensor<T> input, int[] targets, Tensor<T>? weight, int ignoreIndex, Reduction reduction, string op)
    {
        ArgumentNullException.ThrowIfNull(targets);
        LossReduction.Check(reduction, op);
        var shape = ShapeMath.Format(input.ShapeArray);
        if (input.Rank == 0)
        {
            throw new ArgumentException($"{op}: input must be [N, C], [N, C, d1, …] or [C], got shape {shape}.", nameof(input));
        }

        var classes = input.Rank == 1 ? input.ShapeArray[0] : input.ShapeArray[1];
        int[] outputShape = input.Rank == 1 ? [] : [input.ShapeArray[0], .. input.ShapeArray[2..]];
        int[] gradientShape = input.Rank == 1 ? [1] : [input.ShapeArray[0], 1, .. input.ShapeArray[2..]];
        var spatial = input.Rank <= 2 ? 1 : ShapeMath.Numel(input.ShapeArray.AsSpan(2));
        var expected = ShapeMath.Numel(outputShape);
        if (targets.Length != expected)
        {
            var targetShape = input.Rank == 1 ? "one target" : $"target shape {ShapeMath.Format(outputShape)}";
            throw new ArgumentException(
                $"{op}: {targets.Length} targets for input {shape}; expected {expected} ({targetShape}, row-major).", nameof(targets));
        }

        for (var k = 0; k < targets.Length; k++)
        {
            if (targets[k] != ignoreIndex && (uint)targets[k] >= (uint)classes)
            {
                throw new ArgumentException(
                    $"{op}: target {targets[k]} at position {k} is not a class index in 0..{classes - 1} nor ignoreIndex {ignoreIndex} (input {shape}).", nameof(targets));
            }
        }

        T[]? weights = null;
        if (weight is not null)
        {
            if (weight.Rank != 1 || weight.ShapeArray[0] != classes)
            {
                throw new ArgumentException(
                    $"{op}: weight must have one entry per class, [{classes}], got shape {ShapeMath.Format(weight.ShapeArray)} (input {shape}).", nameof(weight));
            }

            if (Tape.ShouldRecord(weight))
            {
                throw new ArgumentException(
                    $"{op}: weight requires grad, but class weights are not differentiable (as in PyTorch); pass weight.Detach() (input {shape}).", nameof(weight));
            }

            weights = weight.ToArray();
        }

        return new ClassTargets<T>((int[])targets.Clone(), classes, spatial, ignoreIndex, weights, outputShape, gradientShape);
    }
}
