using Autograd;

namespace Autograd.Testing;

/// <summary>Tolerances of <see cref="GradCheck"/>; the defaults are PyTorch's gradcheck defaults.</summary>
public sealed record GradCheckOptions
{
    /// <summary>Finite-difference step.</summary>
    public double Eps { get; init; } = 1e-6;

    /// <summary>Absolute tolerance.</summary>
    public double Atol { get; init; } = 1e-5;

    /// <summary>Relative tolerance, times |numeric|.</summary>
    public double Rtol { get; init; } = 1e-3;
}

/// <summary>One Jacobian entry where the tape and the finite differences disagree.</summary>
/// <param name="Input">Which input (position in the inputs array).</param>
/// <param name="InputIndex">Index of the input element.</param>
/// <param name="OutputIndex">Index of the output element.</param>
/// <param name="Analytic">d output / d input from the tape's VJP.</param>
/// <param name="Numeric">The same entry by central differences.</param>
public sealed record Mismatch(int Input, int[] InputIndex, int[] OutputIndex, double Analytic, double Numeric)
{
    public double AbsoluteError => Math.Abs(Analytic - Numeric);

    public override string ToString() =>
        $"input {Input} at {ShapeMath.Format(InputIndex)}, output at {ShapeMath.Format(OutputIndex)}: analytic {Analytic:G6}, numeric {Numeric:G6} (|diff| {AbsoluteError:G3})";
}

/// <summary>The verdict of one <see cref="GradCheck.Check"/>.</summary>
public sealed class GradCheckResult
{
    internal GradCheckResult(bool passed, Mismatch? worst, int failures, int entries, string message)
    {
        Passed = passed;
        Worst = worst;
        Failures = failures;
        EntriesChecked = entries;
        Message = message;
    }

    public bool Passed { get; }

    /// <summary>The entry furthest outside tolerance (or, when all pass, closest to it); null when nothing was compared.</summary>
    public Mismatch? Worst { get; }

    /// <summary>Number of Jacobian entries outside tolerance.</summary>
    public int Failures { get; }

    public int EntriesChecked { get; }

    public string Message { get; }

    /// <summary>Throws <see cref="GradCheckException"/> with <see cref="Message"/> when the check failed.</summary>
    public void ThrowIfFailed()
    {
        if (!Passed)
        {
            throw new GradCheckException(Message);
        }
    }

    public override string ToString() => Message;
}

public sealed class GradCheckException(string message) : Exception(message);

/// <summary>
/// Compares the tape's gradients with central differences, entry by entry of the Jacobian: for every
/// output element j a backward pass with the one-hot cotangent e_j gives row j; for every input element
/// k, (f(x + ε e_k) − f(x − ε e_k)) / 2ε gives column k. An entry passes when
/// |analytic − numeric| ≤ atol + rtol·|numeric|.
/// </summary>
public static class GradCheck
{
    public static GradCheckResult Check(Func<Tensor<double>[], Tensor<double>> f, Tensor<double>[] inputs, GradCheckOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(inputs);
        options ??= new GradCheckOptions();
        for (var i = 0; i < inputs.Length; i++)
        {
            var x = inputs[i] ?? throw new ArgumentException($"GradCheck: input {i} is null.", nameof(inputs));
            if (x.RequiresGrad && !x.IsLeaf)
            {
                throw new ArgumentException($"GradCheck: input {i} (shape {ShapeMath.Format(x.Shape)}) is the result of '{x.GradFn!.OpName}', not a leaf; pass leaves and build views inside f.", nameof(inputs));
            }

            if (x.RequiresGrad && !Autograd.Kernels.Strided.IsNonOverlapping(x._shape, x._strides))
            {
                throw new ArgumentException($"GradCheck: input {i} (shape {ShapeMath.Format(x.Shape)}, strides {ShapeMath.Format(x.Strides)}) addresses one element several times; pass the base tensor and Expand inside f.", nameof(inputs));
            }
        }

        var checkedInputs = Enumerable.Range(0, inputs.Length).Where(i => inputs[i].RequiresGrad).ToArray();
        var savedGrads = inputs.Select(x => x.Grad).ToArray();
        try
        {
            foreach (var i in checkedInputs)
            {
                inputs[i].Grad = null;
            }

            var y = f(inputs) ?? throw new ArgumentException("GradCheck: f returned null.", nameof(f));
            var yShape = y.Shape;
            var m = y.Numel;
            var analytic = checkedInputs.Select(i => new double[m, inputs[i].Numel]).ToArray();
            if (y.RequiresGrad)
            {
                for (var j = 0; j < m; j++)
                {
                    var seed = new double[m];
                    seed[j] = 1;
                    y.Backward(Tensor.FromArray(seed, yShape), retainGraph: true);
                    for (var c = 0; c < checkedInputs.Length; c++)
                    {
                        var x = inputs[checkedInputs[c]];
                        if (x.Grad is { } g)
                        {
                            var row = g.ToArray();
                            for (var k = 0; k < row.Length; k++)
                            {
                                analytic[c][j, k] = row[k];
                            }
                        }

                        x.Grad = null;
                    }
                }
            }

            Mismatch? worst = null;
            var worstRatio = double.NegativeInfinity;
            var failures = 0;
            var entries = 0;
            using (Tensor.NoGrad())
            {
                for (var c = 0; c < checkedInputs.Length; c++)
                {
                    var x = inputs[checkedInputs[c]];
                    var data = x.Storage._data;
                    var shape = x.Shape;
                    var index = new int[shape.Length];
                    for (var k = 0; k < x.Numel; k++)
                    {
                        var at = x.Offset;
                        for (var d = 0; d < shape.Length; d++)
                        {
                            at += index[d] * x._strides[d];
                        }

                        var original = data[at];
                        data[at] = original + options.Eps;
                        var plus = Evaluate(f, inputs, yShape);
                        data[at] = original - options.Eps;
                        var minus = Evaluate(f, inputs, yShape);
                        data[at] = original;
                        for (var j = 0; j < m; j++)
                        {
                            var numeric = (plus[j] - minus[j]) / (2 * options.Eps);
                            var a = analytic[c][j, k];
                            var tolerance = options.Atol + options.Rtol * Math.Abs(numeric);
                            var error = Math.Abs(a - numeric);
                            var ratio = double.IsNaN(error) ? double.PositiveInfinity : error / tolerance;
                            entries++;
                            if (!(error <= tolerance))
                            {
                                failures++;
                            }

                            if (ratio > worstRatio)
                            {
                                worstRatio = ratio;
                                worst = new Mismatch(checkedInputs[c], (int[])index.Clone(), Unravel(j, yShape), a, numeric);
                            }
                        }

                        Increment(index, shape);
                    }
                }
            }

            var passed = failures == 0;
            var message = passed
                ? $"GradCheck passed: {entries} Jacobian entries within atol {options.Atol:G3} + rtol {options.Rtol:G3}·|numeric|" + (worst is null ? "." : $"; closest: {worst}.")
                : $"GradCheck failed: {failures} of {entries} Jacobian entries outside atol {options.Atol:G3} + rtol {options.Rtol:G3}·|numeric|; worst: {worst}.";
            return new GradCheckResult(passed, worst, failures, entries, message);
        }
        finally
        {
            for (var i = 0; i < inputs.Length; i++)
            {
                inputs[i].Grad = savedGrads[i];
            }
        }
    }

    private static double[] Evaluate(Func<Tensor<double>[], Tensor<double>> f, Tensor<double>[] inputs, int[] shape)
    {
        var y = f(inputs);
        if (!y.Shape.AsSpan().SequenceEqual(shape))
        {
            throw new ArgumentException($"GradCheck: f returned shape {ShapeMath.Format(y.Shape)} for a perturbed input but {ShapeMath.Format(shape)} at the original point; f must be deterministic.");
        }

        return y.ToArray();
    }

    internal static int[] Unravel(int flat, int[] shape)
    {
        var index = new int[shape.Length];
        for (var d = shape.Length - 1; d >= 0; d--)
        {
            if (shape[d] > 0)
            {
                index[d] = flat % shape[d];
                flat /= shape[d];
            }
        }

        return index;
    }

    private static void Increment(int[] index, int[] shape)
    {
        for (var d = shape.Length - 1; d >= 0; d--)
        {
            if (++index[d] < shape[d])
            {
                return;
            }

            index[d] = 0;
        }
    }
}
