using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class BinaryCrossEntropyWithLogitsExtensions
{
    extension<T>(Tensor<T> input)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Binary cross-entropy of logits against targets in [0, 1] (PyTorch's
        /// binary_cross_entropy_with_logits), in the stable form
        /// lᵢ = wᵢ·[(1 − tᵢ)·xᵢ + (1 + (pᵢ − 1)·tᵢ)·softplus(−xᵢ)], softplus(−x) = −log σ(x),
        /// with <paramref name="weight"/> w (broadcast to the input, default 1) and
        /// <paramref name="posWeight"/> p (the weight of positive examples, broadcast to the input, usually
        /// one per class along the last dimension; default 1), reduced by <paramref name="reduction"/>.
        /// </summary>
        /// <remarks>
        /// With c = 1 + (p − 1)·t, σ = sigmoid(x), ĝ = g per element (g / n for the mean):
        /// dx = ĝ·w·(c·σ − p·t) (= ĝ·w·(σ − t) without posWeight), dt = ĝ·w·((p − 1)·softplus(−x) − x),
        /// dw = Σ_broadcast ĝ·l/w, dp = Σ_broadcast ĝ·w·t·softplus(−x).
        /// </remarks>
        public Tensor<T> BinaryCrossEntropyWithLogits(
            Tensor<T> target, Tensor<T>? weight = null, Tensor<T>? posWeight = null, Reduction reduction = Reduction.Mean, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            const string op = "BinaryCrossEntropyWithLogits";
            ArgumentNullException.ThrowIfNull(input);
            ArgumentNullException.ThrowIfNull(target);
            LossReduction.Check(reduction, op);
            LossReduction.CheckSameShape(input, target, op);
            CheckBroadcastsTo(weight, input, op, nameof(weight));
            CheckBroadcastsTo(posWeight, input, op, nameof(posWeight));

            Tensor<T> result;
            using (Tensor.NoGrad())
            {
                result = LossReduction.Apply(Unreduced(input, target, weight, posWeight), reduction);
            }

            if (Tape.ShouldRecord(input, target, weight, posWeight))
            {
                var shape = input.ShapeArray;
                var (inputs, wAt, pAt) = OptionalInputs.Of([input, target], weight, posWeight);
                var (needX, needT, needW, needP) = (input.RequiresGrad, target.RequiresGrad, weight?.RequiresGrad == true, posWeight?.RequiresGrad == true);
                Tape.Record("BinaryCrossEntropyWithLogits", new CallSite(callerFile, callerLine), result, inputs, (g, grads) =>
                {
                    var gs = LossReduction.Spread(g, shape, reduction);
                    var gw = weight is null ? gs : gs.Mul(weight);
                    var softplusNeg = input.Neg().Softplus(threshold: double.PositiveInfinity);
                    if (needX)
                    {
                        var sigmoid = input.Sigmoid();
                        grads[0] = posWeight is null
                            ? gw.Mul(sigmoid.Sub(target))
                            : gw.Mul(PositiveFactor(target, posWeight).Mul(sigmoid).Sub(posWeight.Mul(target))).SumToSize(shape);
                    }

                    if (needT)
                    {
                        var dt = posWeight is null
                            ? input.Neg()
                            : posWeight.Sub(Tensor.Scalar(T.One)).Mul(softplusNeg).Sub(input);
                        grads[1] = gw.Mul(dt).SumToSize(shape);
                    }

                    if (needW && weight is not null)
                    {
                        grads[wAt] = gs.Mul(Unreduced(input, target, null, posWeight)).SumToSize(weight.ShapeArray);
                    }

                    if (needP && posWeight is not null)
                    {
                        grads[pAt] = gw.Mul(target).Mul(softplusNeg).SumToSize(posWeight.ShapeArray);
                    }
                },
                input,
                target,
                weight,
                posWeight);
            }

            return result;
        }
    }

    /// <summary>Elementwise w·[(1 − t)·x + c·softplus(−x)], c = 1 + (p − 1)·t (or 1 without posWeight).</summary>
    private static Tensor<T> Unreduced<T>(Tensor<T> x, Tensor<T> t, Tensor<T>? weight, Tensor<T>? posWeight)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var softplusNeg = x.Neg().Softplus(threshold: double.PositiveInfinity);
        var loss = Tensor.Scalar(T.One).Sub(t).Mul(x)
            .Add(posWeight is null ? softplusNeg : PositiveFactor(t, posWeight).Mul(softplusNeg));
        return weight is null ? loss : loss.Mul(weight);
    }

    /// <summary>c = 1 + (p − 1)·t.</summary>
    private static Tensor<T> PositiveFactor<T>(Tensor<T> t, Tensor<T> posWeight)
        where T : unmanaged, IFloatingPointIeee754<T>
        => posWeight.Sub(Tensor.Scalar(T.One)).Mul(t).Add(Tensor.Scalar(T.One));

    private static void CheckBroadcastsTo<T>(Tensor<T>? w, Tensor<T> input, string op, string argument)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (w is null)
        {
            return;
        }

        var ok = w.Rank <= input.Rank;
        for (var i = 1; ok && i <= w.Rank; i++)
        {
            ok = w.ShapeArray[^i] == 1 || w.ShapeArray[^i] == input.ShapeArray[^i];
        }

        if (!ok)
        {
            throw new ArgumentException(
                $"{op}: {argument} of shape {ShapeMath.Format(w.ShapeArray)} does not broadcast to the input shape {ShapeMath.Format(input.ShapeArray)}.", argument);
        }
    }
}
