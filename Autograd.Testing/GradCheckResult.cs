using System.Text;
using Autograd;

namespace Autograd.Testing;

/// <summary>One Jacobian entry (or, in fast mode, one projection) where the tape and the finite differences disagree.</summary>
/// <param name="Input">Which input (position in the inputs array); -1 for a projection over all inputs.</param>
/// <param name="InputIndex">Index of the input element (empty for a projection).</param>
/// <param name="OutputIndex">Index of the output element (empty for a projection).</param>
/// <param name="Analytic">d output / d input from the tape's VJP (vᵀJ·u for a projection).</param>
/// <param name="Numeric">The same entry by central differences (vᵀ·(J u) for a projection).</param>
public sealed record Mismatch(int Input, int[] InputIndex, int[] OutputIndex, double Analytic, double Numeric)
{
    public double AbsoluteError => Math.Abs(Analytic - Numeric);

    /// <summary>In fast mode, which random (u, v) pair; null for a Jacobian entry.</summary>
    public int? Projection { get; init; }

    public override string ToString() => Projection is { } p
        ? $"projection {p} (vᵀJu over all inputs): analytic {Analytic:G6}, numeric {Numeric:G6} (|diff| {AbsoluteError:G3})"
        : $"input {Input} at {ShapeMath.Format(InputIndex)}, output at {ShapeMath.Format(OutputIndex)}: analytic {Analytic:G6}, numeric {Numeric:G6} (|diff| {AbsoluteError:G3})";
}

/// <summary>
/// An input element where f has a kink: the one-sided differences disagree by more than the tolerance,
/// and keep disagreeing at a quarter of the step (so it is a jump in the derivative, not curvature).
/// </summary>
/// <param name="Input">Which input; -1 for a projection direction in fast mode.</param>
/// <param name="InputIndex">Index of the input element (empty for a projection).</param>
/// <param name="OutputIndex">The output element with the largest jump (empty for a projection).</param>
/// <param name="Left">(f(x) − f(x − ε)) / ε.</param>
/// <param name="Right">(f(x + ε) − f(x)) / ε.</param>
/// <param name="Analytic">What the tape's VJP gives there (the subgradient the op chose).</param>
public sealed record NonDifferentiablePoint(int Input, int[] InputIndex, int[] OutputIndex, double Left, double Right, double Analytic)
{
    /// <summary>In fast mode, the random direction along which the kink was found.</summary>
    public int? Projection { get; init; }

    public override string ToString() => Projection is { } p
        ? $"along projection {p}: left {Left:G6}, right {Right:G6}, analytic {Analytic:G6}"
        : $"input {Input} at {ShapeMath.Format(InputIndex)}, output at {ShapeMath.Format(OutputIndex)}: left {Left:G6}, right {Right:G6}, analytic {Analytic:G6}";
}

/// <summary>A VJP property (see <see cref="VjpChecks"/>) that did not hold, with the evidence.</summary>
public sealed record VjpCheckFailure(VjpChecks Check, string Detail)
{
    public override string ToString() => Detail;
}

/// <summary>The value of one input when the check ran, for the reproduction.</summary>
public sealed record GradCheckInput(int[] Shape, double[] Values, bool RequiresGrad);

/// <summary>The verdict of one <see cref="GradCheck.Check(Func{Tensor{double}[], Tensor{double}}, Tensor{double}[], GradCheckOptions?, string?)"/>.</summary>
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

    /// <summary>True when every compared entry is within tolerance, every VJP check holds and no kink counts as a failure.</summary>
    public bool Passed { get; }

    /// <summary>The entry furthest outside tolerance (or, when all pass, closest to it); null when nothing was compared.</summary>
    public Mismatch? Worst { get; }

    /// <summary>Number of Jacobian entries (projections in fast mode) outside tolerance, plus kinks under <see cref="NonDifferentiablePolicy.Fail"/>.</summary>
    public int Failures { get; }

    /// <summary>Jacobian entries (projections in fast mode) compared; entries at a kink are not compared under <see cref="NonDifferentiablePolicy.Report"/>.</summary>
    public int EntriesChecked { get; }

    public string Message { get; }

    /// <summary>Input elements (or projection directions) where f is not differentiable.</summary>
    public IReadOnlyList<NonDifferentiablePoint> NotDifferentiable { get; init; } = [];

    /// <summary>The VJP properties that failed.</summary>
    public IReadOnlyList<VjpCheckFailure> VjpFailures { get; init; } = [];

    /// <summary>Whether random projections were compared instead of the whole Jacobian.</summary>
    public bool FastMode { get; init; }

    /// <summary>The inputs' values at the time of the check.</summary>
    public IReadOnlyList<GradCheckInput> Inputs { get; init; } = [];

    public GradCheckOptions Options { get; init; } = new();

    /// <summary>The source text of the checked function, as written at the call site of <see cref="GradCheck.Check(Func{Tensor{double}[], Tensor{double}}, Tensor{double}[], GradCheckOptions?, string?)"/>.</summary>
    public string? FunctionText { get; init; }

    /// <summary>Lines the reproduction needs before the check (comments, the case, the function).</summary>
    internal IReadOnlyList<string> Preamble { get; init; } = [];

    /// <summary>Throws <see cref="GradCheckException"/> with <see cref="Message"/> when the check failed.</summary>
    public void ThrowIfFailed()
    {
        if (!Passed)
        {
            throw new GradCheckException(Message, this);
        }
    }

    /// <summary>
    /// A ready-to-paste NUnit test that repeats this check on the same values: the inputs as C# array
    /// literals, the checked function and <c>GradCheck.Check(...).ThrowIfFailed()</c>. It needs
    /// <c>using Autograd; using Autograd.Testing;</c> and whatever the function text refers to.
    /// </summary>
    public string ToNUnitTest(string testName = "GradCheck_Reproduction") => ToNUnitTest(testName, []);

    internal string ToNUnitTest(string testName, IReadOnlyList<string> extraPreamble)
    {
        const string Indent = "    ";
        var sb = new StringBuilder();
        sb.Append("[Test]\n");
        sb.Append("public void ").Append(CSharp.Identifier(testName)).Append("()\n{\n");
        foreach (var line in extraPreamble.Concat(Preamble))
        {
            sb.Append(Indent).Append(line).Append('\n');
        }

        var names = new string[Inputs.Count];
        for (var i = 0; i < Inputs.Count; i++)
        {
            var input = Inputs[i];
            names[i] = $"x{i}";
            sb.Append(Indent).Append($"var {names[i]} = Tensor.FromArray({CSharp.DoubleArray(input.Values, Indent)}, {CSharp.Shape(input.Shape)}");
            sb.Append(input.RequiresGrad ? ", requiresGrad: true);\n" : ");\n");
        }

        var options = Options.ToCSharp();
        sb.Append(Indent).Append("GradCheck.Check(").Append(FunctionText ?? "xs => throw new NotImplementedException(\"the checked function\")");
        sb.Append(", [").AppendJoin(", ", names).Append(']');
        if (options is not null)
        {
            sb.Append(", ").Append(options);
        }

        sb.Append(").ThrowIfFailed();\n}\n");
        return sb.ToString();
    }

    public override string ToString() => Message;
}

/// <summary>A failed gradient check; <see cref="Result"/> holds the details when there is one.</summary>
public sealed class GradCheckException : Exception
{
    public GradCheckException(string message)
        : base(message)
    {
    }

    public GradCheckException(string message, GradCheckResult? result, Exception? innerException = null)
        : base(message, innerException)
    {
        Result = result;
    }

    /// <summary>The failed check, when the exception comes from one.</summary>
    public GradCheckResult? Result { get; }

    /// <summary>The generated case that failed, when the exception comes from a <see cref="GradProperty"/>.</summary>
    public object? Case { get; init; }

    /// <summary>A ready-to-paste NUnit test repeating the failed case, when the exception comes from a <see cref="GradProperty"/>.</summary>
    public string? NUnitTest { get; init; }
}
