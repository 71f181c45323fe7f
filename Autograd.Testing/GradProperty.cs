using System.Runtime.CompilerServices;
using System.Text;
using Autograd;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;

namespace Autograd.Testing;

/// <summary>
/// Gradient properties with FsCheck: generated cases, failures shrunk to a minimal case, and a report
/// with that case, the replay seed and a ready-to-paste NUnit test.
/// </summary>
/// <remarks>
/// A case where f is not differentiable at the sample (a ReLU input at exactly 0, a tie in a max) is
/// discarded and FsCheck draws another, unless the options say <see cref="NonDifferentiablePolicy.Fail"/>
/// or <see cref="NonDifferentiablePolicy.Ignore"/>.
/// </remarks>
public static class GradProperty
{
    /// <summary>
    /// An FsCheck property: for every case of <paramref name="spec"/>, <paramref name="check"/> must pass.
    /// A failing case throws <see cref="GradCheckException"/> with the check's message, the case and a
    /// reproduction, so the shrunk counterexample is reported with the worst Jacobian entry.
    /// </summary>
    public static Property For(CaseSpec spec, Func<Case, GradCheckResult> check)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(check);
        return Prop.ForAll(spec.Arbitrary(), (Case c) =>
        {
            var result = check(c);
            if (!result.Passed)
            {
                var test = result.ToNUnitTest("GradCheck_Minimal_Case", [
                    $"// {c}",
                    "// f below is the function given to GradCheck.Check; recreate the locals it uses (views, parameters) from the case above."]);
                throw new GradCheckException(CaseReport(result.Message, c.ToString(), test), result) { Case = c, NUnitTest = test };
            }

            return Verdict(result);
        });
    }

    /// <summary>Checks the property on <paramref name="maxTest"/> cases; throws <see cref="GradPropertyException"/> with the shrunk case on failure.</summary>
    public static void Check(CaseSpec spec, Func<Case, GradCheckResult> check, int maxTest = 100, string? replay = null) =>
        Check(For(spec, check), maxTest, replay);

    /// <summary>
    /// For every case of <paramref name="spec"/>, <paramref name="f"/> applied to tensors of the given
    /// <paramref name="shapes"/> (values in [lo, hi), laid out as the case's views say) passes the check:
    /// <code>GradProperty.For(new CaseSpec().Int("n", 1, 4).Int("d", 1, 4).Views(2), c => [[c["n"], c["d"]], [c["d"], c["d"]]], (c, xs) => xs[0].MatMul(xs[1]))</code>
    /// </summary>
    public static Property For(
        CaseSpec spec,
        Func<Case, int[][]> shapes,
        Func<Case, Tensor<double>[], Tensor<double>> f,
        GradCheckOptions? options = null,
        [CallerArgumentExpression(nameof(f))] string? functionText = null)
        => For(spec, shapes, f, -1, 1, options, functionText);

    /// <inheritdoc cref="For(CaseSpec, Func{Case, int[][]}, Func{Case, Tensor{double}[], Tensor{double}}, GradCheckOptions?, string?)"/>
    public static Property For(
        CaseSpec spec,
        Func<Case, int[][]> shapes,
        Func<Case, Tensor<double>[], Tensor<double>> f,
        double lo,
        double hi,
        GradCheckOptions? options = null,
        [CallerArgumentExpression(nameof(f))] string? functionText = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(shapes);
        ArgumentNullException.ThrowIfNull(f);
        var cases = Arb.From(
            spec.Generator().Select(c => new SpecCase(c, shapes) { Lo = lo, Hi = hi }),
            c => Arbitraries.Progress(c, c.Shrink(spec)));
        return Prop.ForAll(cases, c => Verify(c, (sc, xs) => f(sc.Case, xs), options, functionText, typeof(Case)));
    }

    /// <summary>Checks the spec-and-shapes property on <paramref name="maxTest"/> cases; throws <see cref="GradPropertyException"/> on failure.</summary>
    public static void Check(
        CaseSpec spec,
        Func<Case, int[][]> shapes,
        Func<Case, Tensor<double>[], Tensor<double>> f,
        GradCheckOptions? options = null,
        int maxTest = 100,
        string? replay = null,
        [CallerArgumentExpression(nameof(f))] string? functionText = null)
        => Check(For(spec, shapes, f, options, functionText), maxTest, replay);

    /// <summary>
    /// The one-line property: for every generated case, <paramref name="f"/> applied to the case's tensors
    /// (each a leaf seen through its view) passes <see cref="GradCheck.Check(Func{Tensor{double}[], Tensor{double}}, Tensor{double}[], GradCheckOptions?, string?)"/>.
    /// <code>GradProperty.For(Arbitraries.Conv2d(), (c, xs) => xs[0].Conv2d(xs[1], c.Bias ? xs[2] : null, c.Stride, c.Padding, c.Dilation, c.Groups))</code>
    /// </summary>
    public static Property For<TCase>(
        Arbitrary<TCase> cases,
        Func<TCase, Tensor<double>[], Tensor<double>> f,
        GradCheckOptions? options = null,
        [CallerArgumentExpression(nameof(f))] string? functionText = null)
        where TCase : GradCase
    {
        ArgumentNullException.ThrowIfNull(cases);
        ArgumentNullException.ThrowIfNull(f);
        return Prop.ForAll(cases, c => Verify(c, f, options, functionText, typeof(TCase)));
    }

    /// <summary>The one-line property for a function of one tensor: <c>GradProperty.For(Arbitraries.Tensor(), x => x.Tanh())</c>.</summary>
    public static Property For(
        Arbitrary<TensorCase> cases,
        Func<Tensor<double>, Tensor<double>> f,
        GradCheckOptions? options = null,
        [CallerArgumentExpression(nameof(f))] string? functionText = null)
    {
        ArgumentNullException.ThrowIfNull(cases);
        ArgumentNullException.ThrowIfNull(f);
        return Prop.ForAll(cases, c => Verify(c, (_, xs) => f(xs[0]), options, functionText, null));
    }

    /// <summary>Checks <see cref="For{TCase}"/> on <paramref name="maxTest"/> cases; throws <see cref="GradPropertyException"/> on failure.</summary>
    public static void Check<TCase>(
        Arbitrary<TCase> cases,
        Func<TCase, Tensor<double>[], Tensor<double>> f,
        GradCheckOptions? options = null,
        int maxTest = 100,
        string? replay = null,
        [CallerArgumentExpression(nameof(f))] string? functionText = null)
        where TCase : GradCase
        => Check(For(cases, f, options, functionText), maxTest, replay);

    /// <summary>Checks a function of one tensor on <paramref name="maxTest"/> cases; throws <see cref="GradPropertyException"/> on failure.</summary>
    public static void Check(
        Arbitrary<TensorCase> cases,
        Func<Tensor<double>, Tensor<double>> f,
        GradCheckOptions? options = null,
        int maxTest = 100,
        string? replay = null,
        [CallerArgumentExpression(nameof(f))] string? functionText = null)
        => Check(For(cases, f, options, functionText), maxTest, replay);

    /// <summary>
    /// Runs any FsCheck property on <paramref name="maxTest"/> cases and throws <see cref="GradPropertyException"/>
    /// with the report when it fails. <paramref name="replay"/> ("seed,gamma,size", as a report prints it)
    /// starts from the seed of an earlier failure, so that failure is the first case tried.
    /// </summary>
    public static void Check(Property property, int maxTest = 100, string? replay = null)
    {
        ArgumentNullException.ThrowIfNull(property);
        var runner = new CapturingRunner { StopAtFirstFailure = Environment.GetEnvironmentVariable(NoShrinkVariable) == "1" };
        var config = Config.Quick.WithRunner(runner).WithMaxTest(MaxTestFor(maxTest));
        if (replay is not null)
        {
            config = config.WithReplay(FSharpOption<Replay>.Some(ParseReplay(replay)));
        }

        try
        {
            FsCheck.Check.One(config, property);
        }
        catch (FirstFailureException)
        {
            throw new GradPropertyException($"GradProperty falsified (not shrunk: {NoShrinkVariable}=1); run without it for the minimal case and its report.");
        }

        switch (runner.Result)
        {
            case TestResult.Failed failed:
                throw new GradPropertyException(Failure(failed));
            case TestResult.Exhausted exhausted:
                throw new GradPropertyException(
                    $"GradProperty gave up after {exhausted.Item.NumberOfTests} passing cases: too many were discarded "
                    + "(f not differentiable at the sample, or a filter that rarely holds). Draw values away from the kinks, or loosen the filter.");
        }
    }

    /// <summary>
    /// Checks one case, as the property does: useful to replay a case printed by a report. The result's
    /// <see cref="GradCheckResult.ToNUnitTest(string)"/> rebuilds the case and the function.
    /// </summary>
    public static GradCheckResult CheckCase<TCase>(
        TCase gradCase,
        Func<TCase, Tensor<double>[], Tensor<double>> f,
        GradCheckOptions? options = null,
        [CallerArgumentExpression(nameof(f))] string? functionText = null)
        where TCase : GradCase
        => Run(gradCase, f, options, functionText, typeof(TCase));

    // ---- Implementation ----

    private static Property Verify<TCase>(TCase c, Func<TCase, Tensor<double>[], Tensor<double>> f, GradCheckOptions? options, string? functionText, Type? caseType)
        where TCase : GradCase
    {
        GradCheckResult result;
        try
        {
            result = Run(c, f, options, functionText, caseType);
        }
        catch (Exception e) when (e is not GradCheckException)
        {
            // f (or backward) threw for this case: still a failure to shrink, and still worth a reproduction.
            var test = Reproduction(c, options, functionText, caseType).ToNUnitTest(TestName(c));
            var message = $"GradCheck threw {e.GetType().Name}: {e.Message}";
            throw new GradCheckException(CaseReport(message, c.ToString(), test), null, e) { Case = c, NUnitTest = test };
        }

        if (!result.Passed)
        {
            var test = result.ToNUnitTest(TestName(c));
            throw new GradCheckException(CaseReport(result.Message, c.ToString(), test), result) { Case = c, NUnitTest = test };
        }

        return Verdict(result);
    }

    /// <summary>Passes, or discards a sample where f is not differentiable (the policy says report, not fail).</summary>
    private static Property Verdict(GradCheckResult result) =>
        result.NotDifferentiable.Count > 0 && result.Options.NonDifferentiable == NonDifferentiablePolicy.Report
            ? Prop.Discard<Property>()
            : true.ToProperty();

    private static GradCheckResult Run<TCase>(TCase c, Func<TCase, Tensor<double>[], Tensor<double>> f, GradCheckOptions? options, string? functionText, Type? caseType)
        where TCase : GradCase
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(f);
        var samples = c.Inputs;
        var leaves = samples.Select(s => s.MakeLeaf()).ToArray();
        var (preamble, call) = ReproductionText(c, samples, functionText, caseType);
        return GradCheck.CheckCore(
            xs => f(c, xs.Select((x, i) => samples[i].ApplyView(x)).ToArray()),
            leaves,
            GradCheck.WithScopeOrder(options),
            call,
            preamble);
    }

    /// <summary>A result carrying only what a reproduction needs, for a case whose check threw.</summary>
    private static GradCheckResult Reproduction(GradCase c, GradCheckOptions? options, string? functionText, Type? caseType)
    {
        var samples = c.Inputs;
        var (preamble, call) = ReproductionText(c, samples, functionText, caseType);
        return new GradCheckResult(false, null, 0, 0, "")
        {
            Inputs = samples.Select(s => new GradCheckInput(s.LeafShape, s.LeafValues(), true)).ToArray(),
            Options = options ?? new GradCheckOptions(),
            FunctionText = call,
            Preamble = preamble,
        };
    }

    /// <summary>
    /// The lines before the check (the case, the function) and the function argument of the check, which
    /// applies each input's view to the pasted leaf.
    /// </summary>
    private static (string[] Preamble, string Call) ReproductionText(GradCase c, IReadOnlyList<TensorSample> samples, string? functionText, Type? caseType)
    {
        var f = functionText ?? "/* the checked function */ null!";
        var views = string.Join(", ", samples.Select((s, i) => s.ViewCSharp($"xs[{i}]")));
        if (caseType is null)
        {
            // A function of one tensor.
            return (
                [$"// {c}", $"Func<Tensor<double>, Tensor<double>> f = {f};"],
                $"xs => f({views})");
        }

        var (literal, typeName) = c.FunctionArgument();
        return (
            [$"// {c}", $"var @case = {literal};", $"Func<{typeName}, Tensor<double>[], Tensor<double>> f = {f};"],
            $"xs => f(@case, [{views}])");
    }

    private static string TestName(GradCase c) => $"GradCheck_{c.GetType().Name}_Minimal";

    private static string CaseReport(string message, string caseText, string nunitTest) =>
        $"{message}\nCase: {caseText}\nReproduce it with this NUnit test (using Autograd; using Autograd.Testing;):\n\n{nunitTest}";

    private static Replay ParseReplay(string replay)
    {
        var parts = replay.Trim().Trim('(', ')', '"').Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length is not (2 or 3)
            || !ulong.TryParse(parts[0], out var seed)
            || !ulong.TryParse(parts[1], out var gamma))
        {
            throw new ArgumentException($"GradProperty: replay must be \"seed,gamma\" or \"seed,gamma,size\" as a report prints it, got \"{replay}\".", nameof(replay));
        }

        var size = parts.Length == 3 && int.TryParse(parts[2], out var s) ? FSharpOption<int>.Some(s) : FSharpOption<int>.None;
        return new Replay(new Rnd(seed, gamma), size);
    }

    private static GradPropertyFailure Failure(TestResult.Failed failed)
    {
        var exception = failed.Item4 is Outcome.Failed outcome ? outcome.Item : null;
        var gradCheck = exception as GradCheckException;
        return new GradPropertyFailure(
            Tests: failed.Item1.NumberOfTests,
            Shrinks: failed.Item1.NumberOfShrinks,
            OriginalCase: failed.Item2.Length == 1 ? failed.Item2.Head : failed.Item2.ToArray(),
            MinimalCase: failed.Item3.Length == 1 ? failed.Item3.Head : failed.Item3.ToArray(),
            Replay: $"{failed.Item6.Seed},{failed.Item6.Gamma},{failed.Item7}",
            Result: gradCheck?.Result,
            NUnitTest: gradCheck?.NUnitTest,
            Exception: gradCheck?.InnerException ?? (gradCheck is null ? exception : null));
    }

    /// <summary>
    /// With this environment variable set to 1, a property stops at its first failing case instead of
    /// shrinking it: for mutation testing (scripts/mutation.sh), where only pass or fail matters and
    /// shrinking a failure of every mutant would cost most of the run.
    /// </summary>
    public const string NoShrinkVariable = "AUTOGRAD_PROPERTY_NO_SHRINK";

    /// <summary>
    /// With this environment variable set to a positive integer N, a property checks at most N cases instead
    /// of its <c>maxTest</c>: for mutation testing (scripts/mutation.sh), where every test session of every
    /// mutant pays for the cases. A failure is still a failure; fewer cases can only let more mutants survive.
    /// </summary>
    public const string MaxTestVariable = "AUTOGRAD_PROPERTY_MAX_TEST";

    // maxTest, capped by AUTOGRAD_PROPERTY_MAX_TEST when that is a positive integer.
    private static int MaxTestFor(int maxTest) =>
        int.TryParse(Environment.GetEnvironmentVariable(MaxTestVariable), out var cap) && cap > 0 ? Math.Min(maxTest, cap) : maxTest;

    private sealed class FirstFailureException : Exception;

    /// <summary>Keeps FsCheck's verdict instead of printing it, so that the report can be built from it.</summary>
    private sealed class CapturingRunner : IRunner
    {
        public TestResult? Result { get; private set; }

        public bool StopAtFirstFailure { get; init; }

        public void OnStartFixture(Type t)
        {
        }

        public void OnArguments(int ntest, Microsoft.FSharp.Collections.FSharpList<object> args, FSharpFunc<int, FSharpFunc<Microsoft.FSharp.Collections.FSharpList<object>, string>> every)
        {
        }

        public void OnShrink(Microsoft.FSharp.Collections.FSharpList<object> args, FSharpFunc<Microsoft.FSharp.Collections.FSharpList<object>, string> everyShrink)
        {
            if (StopAtFirstFailure)
            {
                throw new FirstFailureException();
            }
        }

        public void OnFinished(string name, TestResult testResult) => Result = testResult;
    }
}

/// <summary>
/// A falsified gradient property: how far FsCheck got, the case it shrank to, the seed that replays it,
/// the failed check and a ready-to-paste NUnit test.
/// </summary>
/// <param name="Tests">Cases tried up to and including the first failure.</param>
/// <param name="Shrinks">Successful shrink steps from the first failure to the minimal case.</param>
/// <param name="OriginalCase">The first failing case, as generated.</param>
/// <param name="MinimalCase">The case after shrinking: no simpler candidate still fails.</param>
/// <param name="Replay">"seed,gamma,size" of the failing test; <c>GradProperty.Check(..., replay: Replay)</c> tries it first.</param>
/// <param name="Result">The minimal case's check; null when it threw instead.</param>
/// <param name="NUnitTest">A test that repeats the minimal case with literal tensors; null for a property not built by <see cref="GradProperty"/>.</param>
/// <param name="Exception">What the minimal case threw, when it threw instead of failing the check.</param>
public sealed record GradPropertyFailure(
    int Tests, int Shrinks, object OriginalCase, object MinimalCase, string Replay,
    GradCheckResult? Result, string? NUnitTest, Exception? Exception)
{
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append($"GradProperty falsified after {Tests} {(Tests == 1 ? "test" : "tests")}; {Shrinks} {(Shrinks == 1 ? "shrink" : "shrinks")} to the minimal case.\n");
        sb.Append($"Minimal case:  {Describe(MinimalCase)}\n");
        sb.Append($"Original case: {Describe(OriginalCase)}\n");
        sb.Append($"Replay:        \"{Replay}\" (GradProperty.Check(..., replay: \"{Replay}\") tries this failure first)\n");
        if (Result is not null)
        {
            sb.Append(Result.Message).Append('\n');
        }

        if (Exception is not null)
        {
            sb.Append($"Threw {Exception.GetType().Name}: {Exception.Message}\n");
        }

        if (NUnitTest is not null)
        {
            sb.Append("Reproduce the minimal case with this NUnit test (using Autograd; using Autograd.Testing;):\n\n").Append(NUnitTest);
        }

        return sb.ToString();
    }

    private static string Describe(object value) => value is object[] many ? string.Join(", ", many) : value.ToString() ?? "";
}

/// <summary>Thrown by <see cref="GradProperty.Check(Property, int, string?)"/> when a gradient property fails.</summary>
public sealed class GradPropertyException : Exception
{
    public GradPropertyException(GradPropertyFailure failure)
        : base(failure.ToString(), failure.Exception)
    {
        Failure = failure;
    }

    public GradPropertyException(string message)
        : base(message)
    {
    }

    /// <summary>The report's parts; null when FsCheck gave up rather than found a failure.</summary>
    public GradPropertyFailure? Failure { get; }
}
