using System.Runtime.CompilerServices;
using System.Text;
using Autograd;

namespace Autograd.Testing;

/// <summary>
/// Compares the tape's gradients with central differences. In full mode, entry by entry of the
/// Jacobian: for every output element j a backward pass with the one-hot cotangent e_j gives row j;
/// for every input element k, (f(x + ε e_k) − f(x − ε e_k)) / 2ε gives column k. In fast mode, random
/// projections: (vᵀJ)·u from one backward pass against vᵀ(f(x + εu) − f(x − εu)) / 2ε. Either passes
/// when |analytic − numeric| ≤ atol + rtol·|numeric| + 8 ulp(|f|)/ε, the last term being the most that
/// rounding in f's own values can move a difference quotient (below 1e-9 while |f| ≤ 1).
/// </summary>
/// <remarks>
/// Besides the Jacobian it checks, with random cotangents, what every VJP must satisfy (<see cref="VjpChecks"/>):
/// gradients have their inputs' shapes, a zero cotangent gives zero gradients, the VJP is linear in the
/// cotangent, and a second backward pass gives the same result. A one-hot cotangent cannot see a VJP
/// that is, say, quadratic in g (g·|g| is g on ±1), or one that adds a constant; these checks can.
/// Where the one-sided differences disagree (a kink), the element is reported as not differentiable
/// instead of compared (see <see cref="NonDifferentiablePolicy"/>).
/// </remarks>
public static class GradCheck
{
    /// <summary>
    /// Checks the gradients of <paramref name="f"/> at <paramref name="inputs"/> (leaves; those that
    /// require grad are checked). Build views inside <paramref name="f"/> so that the finite differences
    /// perturb the leaves. <paramref name="functionText"/> is filled in by the compiler with the source
    /// of <paramref name="f"/>, for <see cref="GradCheckResult.ToNUnitTest(string)"/>.
    /// </summary>
    public static GradCheckResult Check(
        Func<Tensor<double>[], Tensor<double>> f,
        Tensor<double>[] inputs,
        GradCheckOptions? options = null,
        [CallerArgumentExpression(nameof(f))] string? functionText = null)
        => CheckCore(f, inputs, WithScopeOrder(options), functionText, []);

    private static readonly AsyncLocal<int?> s_order = new();

    /// <summary>
    /// Until disposed, every check on this thread or async flow (<see cref="Check(Func{Tensor{double}[], Tensor{double}}, Tensor{double}[], GradCheckOptions?, string?)"/>, every
    /// <see cref="GradProperty"/>) runs at <paramref name="order"/> whatever its options say: wrapping an
    /// existing gradient property in <c>using (GradCheck.UseOrder(2)) { ... }</c> makes it a second-order
    /// property over the same generated cases, with no other change.
    /// <code>
    /// [Test]
    /// public void Exp_SecondOrderMatchesFiniteDifferences()
    /// {
    ///     using (GradCheck.UseOrder(2)) { new ElementwiseTests().Exp_GradientMatchesFiniteDifferences(); }
    /// }
    /// </code>
    /// </summary>
    public static OrderScope UseOrder(int order)
    {
        if (order is not (1 or 2))
        {
            throw new ArgumentOutOfRangeException(nameof(order), order, "GradCheck.UseOrder: the order is 1 (gradients) or 2 (gradients of gradients).");
        }

        var previous = s_order.Value;
        s_order.Value = order;
        return new OrderScope(previous);
    }

    /// <summary>Restores the previous order when disposed (see <see cref="UseOrder"/>).</summary>
    public readonly struct OrderScope : IDisposable
    {
        private readonly int? _previous;

        internal OrderScope(int? previous) => _previous = previous;

        public void Dispose() => s_order.Value = _previous;
    }

    /// <summary>The options a public entry point runs with: the given ones, at the scope's order when <see cref="UseOrder"/> set one.</summary>
    internal static GradCheckOptions? WithScopeOrder(GradCheckOptions? options) =>
        s_order.Value is { } order ? (options ?? new GradCheckOptions()) with { Order = order } : options;

    /// <summary>
    /// Checks a function of parameters it reads itself, as a module's forward reads its weights:
    /// <paramref name="f"/> takes no argument and closes over <paramref name="parameters"/> (leaves), which
    /// the finite differences perturb in place: <c>GradCheck.CheckParameters(() => x.MatMul(w).Tanh().Sum(), [w])</c>.
    /// A module's check is this over its parameters: <c>CheckParameters(() => module.Forward(input).Sum(), module.Parameters())</c>.
    /// </summary>
    public static GradCheckResult CheckParameters(
        Func<Tensor<double>> f,
        IReadOnlyList<Tensor<double>> parameters,
        GradCheckOptions? options = null,
        [CallerArgumentExpression(nameof(f))] string? functionText = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(parameters);
        return CheckCore(_ => f(), [.. parameters], options, functionText, ["// f reads the parameters x0, x1, ... itself (GradCheck.CheckParameters(f, parameters)); rebuild it over the literals below."]);
    }

    /// <summary>
    /// Checks float32 gradients: the VJPs of <paramref name="f"/> on the float <paramref name="inputs"/> (the
    /// tape in float32, as users train) against central differences of <paramref name="reference"/>, the same
    /// function in float64, at the same point (the float values, widened exactly). The finite differences are
    /// as accurate as in a double check; only the analytic side has float32 rounding, so the tolerances are
    /// float32's: <see cref="GradCheckOptions.Float32"/> unless <paramref name="options"/> says otherwise.
    /// Write f once as a generic method and pass it twice: <c>GradCheck.CheckFloat32(F&lt;float&gt;, F&lt;double&gt;, [x])</c>.
    /// </summary>
    public static GradCheckResult CheckFloat32(
        Func<Tensor<float>[], Tensor<float>> f,
        Func<Tensor<double>[], Tensor<double>> reference,
        Tensor<float>[] inputs,
        GradCheckOptions? options = null,
        [CallerArgumentExpression(nameof(f))] string? functionText = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(inputs);
        options ??= GradCheckOptions.Float32;
        Validate(inputs, options);
        var twins = inputs.Select(x => Tensor.FromArray(x.ToArray().Select(v => (double)v).ToArray(), x.Shape, requiresGrad: x.RequiresGrad)).ToArray();
        var allChecked = Enumerable.Range(0, inputs.Length).Where(i => inputs[i].RequiresGrad).ToArray();
        var savedGrads = inputs.Select(x => x.Grad).ToArray();
        try
        {
            return Execute(
                new Run(reference, twins, options, checkedInputs =>
                {
                    SetRequiresGrad(inputs, allChecked, checkedInputs);
                    foreach (var i in checkedInputs)
                    {
                        inputs[i].Grad = null;
                    }

                    var y = f(inputs) ?? throw new ArgumentException("GradCheck: f returned null.", nameof(f));
                    return new TapeSide<float>(y, inputs, checkedInputs, options.Checks.HasFlag(VjpChecks.GradShapes));
                }),
                twins,
                options,
                functionText,
                ["// float32 check: the Jacobian came from f on float32 inputs, the finite differences from the float64 reference;",
                 "// rebuild the inputs below as float tensors and call GradCheck.CheckFloat32(f, reference, inputs)."]);
        }
        finally
        {
            for (var i = 0; i < inputs.Length; i++)
            {
                inputs[i].Grad = savedGrads[i];
            }
        }
    }

    /// <summary>
    /// The float32 check of a function of parameters (see <see cref="CheckParameters(Func{Tensor{double}}, IReadOnlyList{Tensor{double}}, GradCheckOptions?, string?)"/>):
    /// <paramref name="f"/> reads the float <paramref name="parameters"/>, <paramref name="reference"/> reads
    /// <paramref name="referenceParameters"/>, the same parameters in float64 (a float64 twin of a module).
    /// The reference parameters are set to the float values for the check and restored after it.
    /// </summary>
    public static GradCheckResult CheckParameters(
        Func<Tensor<float>> f,
        IReadOnlyList<Tensor<float>> parameters,
        Func<Tensor<double>> reference,
        IReadOnlyList<Tensor<double>> referenceParameters,
        GradCheckOptions? options = null,
        [CallerArgumentExpression(nameof(f))] string? functionText = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(referenceParameters);
        if (parameters.Count != referenceParameters.Count)
        {
            throw new ArgumentException($"GradCheck: {parameters.Count} parameters but {referenceParameters.Count} reference parameters.", nameof(referenceParameters));
        }

        var originals = new double[parameters.Count][];
        for (var i = 0; i < parameters.Count; i++)
        {
            var (p, r) = (parameters[i], referenceParameters[i]);
            if (!p.Shape.AsSpan().SequenceEqual(r.Shape) || p.RequiresGrad != r.RequiresGrad)
            {
                throw new ArgumentException(
                    $"GradCheck: parameter {i} has shape {ShapeMath.Format(p.Shape)} (requiresGrad {p.RequiresGrad}) but its reference has shape {ShapeMath.Format(r.Shape)} (requiresGrad {r.RequiresGrad}).",
                    nameof(referenceParameters));
            }

            originals[i] = r.ToArray();
        }

        options ??= GradCheckOptions.Float32;
        var floats = parameters.ToArray();
        var allChecked = Enumerable.Range(0, floats.Length).Where(i => floats[i].RequiresGrad).ToArray();
        Validate(floats, options);
        Validate([.. referenceParameters], options);
        var savedGrads = floats.Select(x => x.Grad).ToArray();
        try
        {
            for (var i = 0; i < floats.Length; i++)
            {
                SetValues(referenceParameters[i], floats[i].ToArray().Select(v => (double)v).ToArray());
            }

            var twins = referenceParameters.ToArray();
            return Execute(
                new Run(_ => reference(), twins, options, checkedInputs =>
                {
                    SetRequiresGrad(floats, allChecked, checkedInputs);
                    var y = f() ?? throw new ArgumentException("GradCheck: f returned null.", nameof(f));
                    return new TapeSide<float>(y, floats, checkedInputs, options.Checks.HasFlag(VjpChecks.GradShapes));
                }),
                twins,
                options,
                functionText,
                ["// float32 check of a function of parameters against its float64 reference (GradCheck.CheckParameters(f, parameters, reference, referenceParameters))."]);
        }
        finally
        {
            for (var i = 0; i < floats.Length; i++)
            {
                floats[i].Grad = savedGrads[i];
                SetValues(referenceParameters[i], originals[i]);
            }
        }
    }

    /// <summary>
    /// The most a difference quotient at step <paramref name="h"/> can be off from rounding alone when f's
    /// values are of size <paramref name="magnitude"/>: 8 units in the last place of f over h. It is below
    /// 1e-9 while |f| ≤ 1 at the default step, so it matters only where f is large (a loss of 3e7 puts
    /// 2e-3 of noise on every central difference at ε = 1e-6).
    /// </summary>
    public static double RoundingNoise(double magnitude, double h) => 8 * s_unitRoundoff * magnitude / h;

    private static readonly double s_unitRoundoff = (Math.BitIncrement(1.0) - 1.0) / 2;

    /// <summary>Writes <paramref name="values"/> (row-major) into the elements of <paramref name="x"/>, in place.</summary>
    private static void SetValues(Tensor<double> x, double[] values)
    {
        var positions = Run.StoragePositions(x);
        using var xw = x.Write();
        var data = xw.Span;
        for (var k = 0; k < positions.Length; k++)
        {
            data[positions[k]] = values[k];
        }
    }

    internal static GradCheckResult CheckCore(
        Func<Tensor<double>[], Tensor<double>> f,
        Tensor<double>[] inputs,
        GradCheckOptions? options,
        string? functionText,
        IReadOnlyList<string> preamble)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(inputs);
        options ??= new GradCheckOptions();
        Validate(inputs, options);
        if (options.Order == 2)
        {
            return GradGradCheck.CheckCore(f, inputs, null, options, functionText, preamble);
        }

        var savedGrads = inputs.Select(x => x.Grad).ToArray();
        try
        {
            return Execute(new Run(f, inputs, options), inputs, options, functionText, preamble);
        }
        finally
        {
            for (var i = 0; i < inputs.Length; i++)
            {
                inputs[i].Grad = savedGrads[i];
            }
        }
    }

    private static GradCheckResult Execute(Run run, Tensor<double>[] inputs, GradCheckOptions options, string? functionText, IReadOnlyList<string> preamble)
    {
        var snapshot = inputs.Select(x => new GradCheckInput(x.Shape, x.ToArray(), x.RequiresGrad)).ToArray();
        var outcome = run.Execute();
        return new GradCheckResult(outcome.Passed, outcome.Worst, outcome.Failures, outcome.Entries, outcome.Message)
        {
            NotDifferentiable = outcome.Kinks,
            VjpFailures = outcome.VjpFailures,
            FastMode = options.FastMode,
            Inputs = snapshot,
            Options = options,
            FunctionText = functionText,
            Preamble = preamble,
        };
    }

    /// <summary>Options in range; inputs are leaves that address each element once and share no storage.</summary>
    private static void Validate<T>(Tensor<T>[] inputs, GradCheckOptions options)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        if (!(options.Eps > 0) || options.Projections < 1 || options.Order is not (1 or 2))
        {
            throw new ArgumentException($"GradCheck: Eps must be positive, Projections at least 1 and Order 1 or 2 (got Eps {options.Eps}, Projections {options.Projections}, Order {options.Order}).", nameof(options));
        }

        for (var i = 0; i < inputs.Length; i++)
        {
            var x = inputs[i] ?? throw new ArgumentException($"GradCheck: input {i} is null.", nameof(inputs));
            if (x.RequiresGrad && !x.IsLeaf)
            {
                throw new ArgumentException($"GradCheck: input {i} (shape {ShapeMath.Format(x.Shape)}) is the result of '{x.GradFn!.OpName}', not a leaf; pass leaves and build views inside f.", nameof(inputs));
            }

            if (x.RequiresGrad && !Autograd.Kernels.Strided.IsNonOverlapping(x.ShapeArray, x.StridesArray))
            {
                throw new ArgumentException($"GradCheck: input {i} (shape {ShapeMath.Format(x.Shape)}, strides {ShapeMath.Format(x.Strides)}) addresses one element several times; pass the base tensor and Expand inside f.", nameof(inputs));
            }

            // Perturbing a checked input must move only that input: no other input may share its storage.
            for (var j = 0; j < i; j++)
            {
                if ((x.RequiresGrad || inputs[j].RequiresGrad) && inputs[j].SharesStorage(x))
                {
                    throw new ArgumentException($"GradCheck: inputs {j} and {i} share storage (shapes {ShapeMath.Format(inputs[j].Shape)} and {ShapeMath.Format(x.Shape)}); pass each leaf once and reuse it inside f.", nameof(inputs));
                }
            }
        }
    }

    /// <summary>Of the <paramref name="all"/> checked inputs, those in <paramref name="wanted"/> require grad and the others not.</summary>
    private static void SetRequiresGrad<T>(Tensor<T>[] inputs, int[] all, int[] wanted)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        foreach (var i in all)
        {
            inputs[i].RequiresGrad = wanted.Contains(i);
        }
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

    private sealed record Outcome(
        bool Passed, Mismatch? Worst, int Failures, int Entries, string Message,
        IReadOnlyList<NonDifferentiablePoint> Kinks, IReadOnlyList<VjpCheckFailure> VjpFailures);

    /// <summary>One check: the function, its leaves, and where in storage each checked element lives.</summary>
    private sealed class Run
    {
        private readonly Func<Tensor<double>[], Tensor<double>> _f;
        private readonly Tensor<double>[] _inputs;
        private readonly GradCheckOptions _options;
        private readonly int[] _checked;
        private readonly int[][] _positions;
        private readonly List<NonDifferentiablePoint> _kinks = [];
        private readonly List<VjpCheckFailure> _vjpFailures = [];
        private readonly Generator _random;
        private readonly Func<int[], ITapeSide> _tapeSide;
        private ITapeSide _tape = null!;
        private int[] _yShape = [];
        private double[] _y0 = [];

        /// <summary>
        /// <paramref name="f"/> at <paramref name="inputs"/> gives the finite differences (double). The analytic
        /// side is <paramref name="tapeSide"/> (given the checked inputs): f itself on the tape, or a float32 twin.
        /// </summary>
        public Run(Func<Tensor<double>[], Tensor<double>> f, Tensor<double>[] inputs, GradCheckOptions options, Func<int[], ITapeSide>? tapeSide = null)
        {
            _f = f;
            _inputs = inputs;
            _options = options;
            _checked = Enumerable.Range(0, inputs.Length).Where(i => inputs[i].RequiresGrad).ToArray();
            _positions = _checked.Select(i => StoragePositions(inputs[i])).ToArray();
            _random = new Generator(options.Seed);
            _tapeSide = tapeSide ?? (checkedInputs =>
            {
                SetRequiresGrad(inputs, _checked, checkedInputs);
                var y = f(inputs) ?? throw new ArgumentException("GradCheck: f returned null.", "f");
                return new TapeSide<double>(y, inputs, checkedInputs, options.Checks.HasFlag(VjpChecks.GradShapes));
            });
        }

        public Outcome Execute()
        {
            foreach (var i in _checked)
            {
                _inputs[i].Grad = null;
            }

            _tape = _tapeSide(_checked);
            _yShape = _tape.Shape;

            // f(x) for the one-sided differences, evaluated the same way as the perturbed points.
            _y0 = Evaluate();
            var backwardWorks = true;
            if (_tape.RequiresGrad && _y0.Length > 0 && _options.Checks != VjpChecks.None)
            {
                backwardWorks = CheckVjp();
            }

            if (!backwardWorks)
            {
                return Finish(null, 0, 0);
            }

            return _options.FastMode ? CompareProjections() : CompareJacobian();
        }

        // ---- VJP properties ----

        /// <summary>Runs the enabled VJP checks; false when backward cannot run at all (a shape error).</summary>
        private bool CheckVjp()
        {
            var checks = _options.Checks;
            var m = _y0.Length;
            var u = RandomVector(m);
            var gu = TryVjp(u);
            if (gu is null)
            {
                return false;
            }

            if (checks.HasFlag(VjpChecks.Reentrancy))
            {
                var again = TryVjp(u);
                if (again is null)
                {
                    return false;
                }

                if (WorstDifference(again, gu, (_, _) => _options.NondetTol) is { } d)
                {
                    _vjpFailures.Add(new VjpCheckFailure(
                        VjpChecks.Reentrancy,
                        $"backward is not reentrant: a second pass with the same cotangent gave {d.Actual:G6} instead of {d.Expected:G6} "
                        + $"at input {_checked[d.Input]} {ShapeMath.Format(d.Index)} (nondetTol {_options.NondetTol:G3})"));
                }
            }

            if (checks.HasFlag(VjpChecks.ZeroCotangent))
            {
                var g0 = TryVjp(new double[m]);
                if (g0 is null)
                {
                    return false;
                }

                var zeros = g0.Select(g => new double[g.Length]).ToArray();
                if (WorstDifference(g0, zeros, (_, _) => _options.Atol) is { } d)
                {
                    _vjpFailures.Add(new VjpCheckFailure(
                        VjpChecks.ZeroCotangent,
                        $"a zero cotangent gave a non-zero gradient: {d.Actual:G6} at input {_checked[d.Input]} {ShapeMath.Format(d.Index)}"));
                }
            }

            if (checks.HasFlag(VjpChecks.Linearity))
            {
                var v = RandomVector(m);

                // Coefficients away from 0 and 1, and of both signs, so that an affine or a quadratic VJP shows.
                var a = 0.5 + _random.NextDouble();
                var b = -(0.5 + _random.NextDouble());
                var gv = TryVjp(v);
                var combined = new double[m];
                for (var j = 0; j < m; j++)
                {
                    combined[j] = a * u[j] + b * v[j];
                }

                var gw = gv is null ? null : TryVjp(combined);
                if (gv is null || gw is null)
                {
                    return false;
                }

                var expected = gu.Select((g, c) => g.Select((x, k) => a * x + b * gv[c][k]).ToArray()).ToArray();
                if (WorstDifference(gw, expected, (_, e) => _options.Atol + _options.Rtol * Math.Abs(e)) is { } d)
                {
                    _vjpFailures.Add(new VjpCheckFailure(
                        VjpChecks.Linearity,
                        $"the VJP is not linear in the cotangent: vjp(a·u + b·v) = {d.Actual:G6} but a·vjp(u) + b·vjp(v) = {d.Expected:G6} "
                        + $"at input {_checked[d.Input]} {ShapeMath.Format(d.Index)} (a = {a:G4}, b = {b:G4})"));
                }
            }

            if (checks.HasFlag(VjpChecks.CotangentViews) && !CheckCotangentViews(u, gu))
            {
                return false;
            }

            if (checks.HasFlag(VjpChecks.PartialGradients) && _checked.Length >= 2 && !CheckPartialGradients(u, gu))
            {
                return false;
            }

            if (checks.HasFlag(VjpChecks.CallerTensorsUnchanged))
            {
                try
                {
                    if (_tape.CheckAccumulation(u, CotangentLayout.Strided, e => (2 * _options.NondetTol) + _options.Atol + (_options.Rtol * Math.Abs(e))) is { } problem)
                    {
                        AddCallerFailure(problem);
                    }
                }
                catch (GradientShapeException) when (checks.HasFlag(VjpChecks.GradShapes))
                {
                    return false;
                }
            }

            return true;
        }

        /// <summary>
        /// The VJP of a cotangent does not depend on its layout: u as a strided view at an offset and as a
        /// transposed view gives vjp(u) (<paramref name="gu"/>, from a contiguous u), and u made constant
        /// along a dimension gives the same as an expanded (stride-0) view as contiguous.
        /// </summary>
        private bool CheckCotangentViews(double[] u, double[][] gu)
        {
            var cases = new List<(CotangentLayout Layout, double[] U, double[][] Expected)>
            {
                (CotangentLayout.Strided, u, gu),
                (CotangentLayout.Transposed, u, gu),
            };
            if (Cotangents.ExpandableCopy(u, _yShape) is { } constant)
            {
                var expected = TryVjp(constant);
                if (expected is null)
                {
                    return false;
                }

                cases.Add((CotangentLayout.Expanded, constant, expected));
            }

            foreach (var (layout, cotangent, expected) in cases)
            {
                var actual = TryVjp(cotangent, layout);
                if (actual is null)
                {
                    return false;
                }

                if (WorstDifference(actual, expected, (_, e) => _options.Atol + _options.Rtol * Math.Abs(e)) is { } d)
                {
                    _vjpFailures.Add(new VjpCheckFailure(
                        VjpChecks.CotangentViews,
                        $"the VJP depends on how the cotangent is laid out: as a {Describe(layout)} it gave {d.Actual:G6}, as a contiguous tensor {d.Expected:G6}, "
                        + $"at input {_checked[d.Input]} {ShapeMath.Format(d.Index)}"));
                    break;
                }
            }

            return true;
        }

        /// <summary>
        /// With one checked input at a time made a constant (RequiresGrad off, f recorded again), every other
        /// input gets the gradient it gets when all require grad: the "is this gradient wanted" branches of
        /// the VJPs skip work, never change the result.
        /// </summary>
        private bool CheckPartialGradients(double[] u, double[][] gu)
        {
            try
            {
                for (var c = 0; c < _checked.Length; c++)
                {
                    var others = _checked.Where((_, k) => k != c).ToArray();
                    _tape = _tapeSide(others);

                    // f no longer depends on a tensor that requires grad: the others' gradients must be zero.
                    var partial = _tape.RequiresGrad ? TryVjp(u) : others.Select(i => new double[_inputs[i].Numel]).ToArray();
                    if (partial is null)
                    {
                        return false;
                    }

                    var expected = gu.Where((_, k) => k != c).ToArray();
                    if (WorstDifference(partial, expected, (_, e) => _options.Atol + _options.Rtol * Math.Abs(e), others) is { } d)
                    {
                        _vjpFailures.Add(new VjpCheckFailure(
                            VjpChecks.PartialGradients,
                            $"with input {_checked[c]} a constant, input {others[d.Input]} got {d.Actual:G6} instead of {d.Expected:G6} at {ShapeMath.Format(d.Index)}"));
                        break;
                    }
                }

                return true;
            }
            finally
            {
                // Every checked input requires grad again, and the rest of the check uses a graph recorded so.
                _tape = _tapeSide(_checked);
            }
        }

        private static string Describe(CotangentLayout layout) => layout switch
        {
            CotangentLayout.Strided => "strided view at storage offset 1",
            CotangentLayout.Transposed => "transposed view at storage offset 1",
            CotangentLayout.Expanded => "expanded (stride-0) view at storage offset 1",
            _ => "contiguous tensor",
        };

        private void AddCallerFailure(string problem)
        {
            if (!_vjpFailures.Any(f => f.Check == VjpChecks.CallerTensorsUnchanged))
            {
                _vjpFailures.Add(new VjpCheckFailure(VjpChecks.CallerTensorsUnchanged, problem));
            }
        }

        /// <summary>
        /// One backward pass with cotangent <paramref name="u"/>: each checked input's gradient (zeros where
        /// none arrived), or null after recording a shape failure.
        /// </summary>
        private double[][]? TryVjp(double[] u, CotangentLayout layout = CotangentLayout.Contiguous)
        {
            try
            {
                return Vjp(u, layout);
            }
            catch (GradientShapeException e) when (_options.Checks.HasFlag(VjpChecks.GradShapes))
            {
                // The engine refuses a VJP whose gradient does not have its input's shape; that is this check failing.
                foreach (var i in _checked)
                {
                    _inputs[i].Grad = null;
                }

                _vjpFailures.Add(new VjpCheckFailure(VjpChecks.GradShapes, $"a gradient has the wrong shape: {e.Message}"));
                return null;
            }
        }

        /// <summary>One backward pass; a write into a caller-owned tensor is recorded as a failure.</summary>
        private double[][] Vjp(double[] u, CotangentLayout layout = CotangentLayout.Contiguous)
        {
            var (grads, modified) = _tape.Vjp(u, layout);
            if (modified is not null && _options.Checks.HasFlag(VjpChecks.CallerTensorsUnchanged))
            {
                AddCallerFailure(modified);
            }

            return grads;
        }

        /// <summary>The layout of the cotangent of Jacobian row or projection <paramref name="j"/>: all layouts in turn.</summary>
        private CotangentLayout RowLayout(int j) =>
            _options.Checks.HasFlag(VjpChecks.CotangentViews) ? Cotangents.Rotation[j % Cotangents.Rotation.Length] : CotangentLayout.Contiguous;

        private readonly record struct Difference(int Input, int[] Index, double Actual, double Expected);

        /// <summary>The element of <paramref name="actual"/> furthest outside tolerance of <paramref name="expected"/>, or null when all are within.</summary>
        private Difference? WorstDifference(double[][] actual, double[][] expected, Func<double, double, double> tolerance, int[]? inputs = null)
        {
            inputs ??= _checked;
            Difference? worst = null;
            var worstExcess = 0.0;
            for (var c = 0; c < actual.Length; c++)
            {
                for (var k = 0; k < actual[c].Length; k++)
                {
                    var error = Math.Abs(actual[c][k] - expected[c][k]);
                    var tol = tolerance(actual[c][k], expected[c][k]);
                    if (!(error <= tol))
                    {
                        var excess = double.IsNaN(error) ? double.PositiveInfinity : error - tol;
                        if (worst is null || excess > worstExcess)
                        {
                            worstExcess = excess;
                            worst = new Difference(c, Unravel(k, _inputs[inputs[c]].Shape), actual[c][k], expected[c][k]);
                        }
                    }
                }
            }

            return worst;
        }

        // ---- Full Jacobian ----

        private Outcome CompareJacobian()
        {
            var m = _y0.Length;
            var analytic = _checked.Select(i => new double[m, _inputs[i].Numel]).ToArray();
            if (_tape.RequiresGrad)
            {
                for (var j = 0; j < m; j++)
                {
                    var seed = new double[m];
                    seed[j] = 1;
                    var rows = Vjp(seed, RowLayout(j));
                    for (var c = 0; c < _checked.Length; c++)
                    {
                        for (var k = 0; k < rows[c].Length; k++)
                        {
                            analytic[c][j, k] = rows[c][k];
                        }
                    }
                }
            }

            var tally = new Tally(_options);
            for (var c = 0; c < _checked.Length; c++)
            {
                var input = _checked[c];
                var x = _inputs[input];
                using var xr = x.Read();
                var data = xr.Span;
                for (var k = 0; k < _positions[c].Length; k++)
                {
                    var at = _positions[c][k];
                    var original = data[at];
                    var probe = new Probe(_options.Eps, h =>
                    {
                        SetAt(x, at, original + h);
                        try
                        {
                            return Evaluate();
                        }
                        finally
                        {
                            SetAt(x, at, original);
                        }
                    });

                    var index = Unravel(k, x.Shape);
                    NonDifferentiablePoint? kink = null;
                    for (var j = 0; j < m; j++)
                    {
                        var a = analytic[c][j, k];
                        var (isKink, numeric, left, right, noise) = Differentiate(probe, j, _y0[j], Math.Abs(_y0[j]));
                        if (isKink)
                        {
                            // One record per input element: the output where the derivative jumps most.
                            if (kink is null || Math.Abs(right - left) > Math.Abs(kink.Right - kink.Left))
                            {
                                kink = new NonDifferentiablePoint(input, index, Unravel(j, _yShape), left, right, a);
                            }

                            continue;
                        }

                        tally.Compare(a, numeric, noise, () => new Mismatch(input, index, Unravel(j, _yShape), a, numeric));
                    }

                    if (kink is not null)
                    {
                        _kinks.Add(kink);
                    }
                }
            }

            return Finish(tally.Worst, tally.Failures, tally.Entries);
        }

        // ---- Fast mode ----

        private Outcome CompareProjections()
        {
            var m = _y0.Length;
            var tally = new Tally(_options);
            var originals = _checked.Select((input, c) => ValuesAt(_inputs[input], _positions[c])).ToArray();
            for (var p = 0; p < _options.Projections; p++)
            {
                var u = _positions.Select(positions => RandomVector(positions.Length)).ToArray();
                var v = RandomVector(m);

                // (vᵀJ)·u: one backward pass with cotangent v, then a dot product with the direction.
                var analytic = 0.0;
                if (_tape.RequiresGrad && m > 0)
                {
                    var g = Vjp(v, RowLayout(p));
                    for (var c = 0; c < g.Length; c++)
                    {
                        for (var k = 0; k < g[c].Length; k++)
                        {
                            analytic += g[c][k] * u[c][k];
                        }
                    }
                }

                // vᵀ(J u): f along x + h·u, projected on v, so the probe sees a function of one variable.
                var probe = new Probe(_options.Eps, h =>
                {
                    for (var c = 0; c < _checked.Length; c++)
                    {
                        using var xw = _inputs[_checked[c]].Write();
                        var data = xw.Span;
                        for (var k = 0; k < _positions[c].Length; k++)
                        {
                            data[_positions[c][k]] = originals[c][k] + (h * u[c][k]);
                        }
                    }

                    try
                    {
                        return [Dot(v, Evaluate())];
                    }
                    finally
                    {
                        for (var c = 0; c < _checked.Length; c++)
                        {
                            using var xw = _inputs[_checked[c]].Write();
                            var data = xw.Span;
                            for (var k = 0; k < _positions[c].Length; k++)
                            {
                                data[_positions[c][k]] = originals[c][k];
                            }
                        }
                    }
                });

                var magnitude = 0.0;
                for (var i = 0; i < m; i++)
                {
                    magnitude += Math.Abs(v[i] * _y0[i]);
                }

                var (isKink, numeric, left, right, noise) = Differentiate(probe, 0, Dot(v, _y0), magnitude);
                if (isKink)
                {
                    _kinks.Add(new NonDifferentiablePoint(-1, [], [], left, right, analytic) { Projection = p });
                    continue;
                }

                var projection = p;
                tally.Compare(analytic, numeric, noise, () => new Mismatch(-1, [], [], analytic, numeric) { Projection = projection });
            }

            return Finish(tally.Worst, tally.Failures, tally.Entries);
        }

        // ---- Derivative by finite differences, aware of kinks ----

        /// <summary>How many times the step is quartered while telling a kink from curvature.</summary>
        private const int RefinementLevels = 3;

        /// <summary>
        /// The numeric derivative of output <paramref name="j"/>, or a kink. The central difference at ε is
        /// used unless the one-sided differences disagree beyond tolerance. Then the step is quartered:
        /// curvature makes the one-sided differences differ by about h·f'', a quarter of the gap each time;
        /// a kink at x keeps the whole jump in the derivative. So a gap that keeps at least half of itself is
        /// a kink, and a gap that vanishes means f is smooth at the finer scale (a kink further than h/4
        /// from x, or strong curvature), where the central difference is trusted instead.
        /// <para>
        /// Also returns the rounding noise of the difference at the step used (<see cref="RoundingNoise"/>):
        /// f's value is exact only to a few ulps of <paramref name="magnitude"/> (|f|, or Σ|vᵢyᵢ| for a
        /// projection), so no difference quotient can resolve the derivative more finely than that over h.
        /// </para>
        /// </summary>
        private (bool Kink, double Numeric, double Left, double Right, double Noise) Differentiate(Probe probe, int j, double at, double magnitude)
        {
            var eps = _options.Eps;
            var left = (at - probe.Minus(0)[j]) / eps;
            var right = (probe.Plus(0)[j] - at) / eps;
            var central = (probe.Plus(0)[j] - probe.Minus(0)[j]) / (2 * eps);
            var noise = RoundingNoise(magnitude, eps);
            if (_options.NonDifferentiable == NonDifferentiablePolicy.Ignore || !IsJump(left, right, noise))
            {
                return (false, central, left, right, noise);
            }

            var gap = Math.Abs(right - left);
            for (var level = 1; level <= RefinementLevels; level++)
            {
                var h = probe.Step(level);
                var l = (at - probe.Minus(level)[j]) / h;
                var r = (probe.Plus(level)[j] - at) / h;
                central = (probe.Plus(level)[j] - probe.Minus(level)[j]) / (2 * h);
                noise = RoundingNoise(magnitude, h);
                if (!IsJump(l, r, noise))
                {
                    return (false, central, left, right, noise);
                }

                var finer = Math.Abs(r - l);
                if (!(finer < 0.5 * gap))
                {
                    return (true, double.NaN, left, right, noise);
                }

                gap = finer;
            }

            // Still shrinking like curvature at the finest step: trust that step's central difference.
            return (false, central, left, right, noise);
        }


        /// <summary>The one-sided differences disagree by more than the tolerance (with twice the rounding noise, as each has it).</summary>
        private bool IsJump(double left, double right, double noise) =>
            !(Math.Abs(right - left) <= _options.Atol + (_options.Rtol * Math.Max(Math.Abs(left), Math.Abs(right))) + 4 * noise);

        /// <summary>f at x ± h for h = ε, ε/4, ε/16, ...: evaluated on first use, shared by all output elements.</summary>
        private sealed class Probe(double eps, Func<double, double[]> at)
        {
            private readonly double[]?[] _plus = new double[RefinementLevels + 1][];
            private readonly double[]?[] _minus = new double[RefinementLevels + 1][];

            public double Step(int level) => eps / Math.Pow(4, level);

            public double[] Plus(int level) => _plus[level] ??= At(Step(level));

            public double[] Minus(int level) => _minus[level] ??= At(-Step(level));

            private double[] At(double h)
            {
                using (Tensor.NoGrad())
                {
                    return at(h);
                }
            }
        }

        // ---- Helpers ----

        private double[] Evaluate()
        {
            Tensor<double> y;
            using (Tensor.NoGrad())
            {
                y = _f(_inputs);
            }

            if (!y.Shape.AsSpan().SequenceEqual(_yShape))
            {
                throw new ArgumentException($"GradCheck: f returned shape {ShapeMath.Format(y.Shape)} without the tape but {ShapeMath.Format(_yShape)} on it; f must be deterministic (and a float32 check's reference must compute the same function).");
            }

            return y.ToArray();
        }

        private double[] RandomVector(int n)
        {
            var v = new double[n];
            for (var i = 0; i < n; i++)
            {
                v[i] = 2 * _random.NextDouble() - 1;
            }

            return v;
        }

        private static double Dot(double[] a, double[] b)
        {
            var sum = 0.0;
            for (var i = 0; i < a.Length; i++)
            {
                sum += a[i] * b[i];
            }

            return sum;
        }

        /// <summary>The storage elements at <paramref name="positions"/> of <paramref name="x"/>.</summary>
        private static double[] ValuesAt(Tensor<double> x, int[] positions)
        {
            using var xr = x.Read();
            var data = xr.Span;
            var values = new double[positions.Length];
            for (var k = 0; k < values.Length; k++)
            {
                values[k] = data[positions[k]];
            }

            return values;
        }

        /// <summary>Writes storage element <paramref name="at"/> of <paramref name="x"/> in place (a probe's perturbation, not a recorded write).</summary>
        private static void SetAt(Tensor<double> x, int at, double value)
        {
            using var xw = x.Write();
            xw.Span[at] = value;
        }

        /// <summary>Storage index of every element, in row-major order of the tensor's shape.</summary>
        internal static int[] StoragePositions(Tensor<double> x)
        {
            var shape = x.ShapeArray;
            var positions = new int[x.Numel];
            var index = new int[shape.Length];
            for (var k = 0; k < positions.Length; k++)
            {
                var at = x.Offset;
                for (var d = 0; d < shape.Length; d++)
                {
                    at += index[d] * x.StridesArray[d];
                }

                positions[k] = at;
                for (var d = shape.Length - 1; d >= 0; d--)
                {
                    if (++index[d] < shape[d])
                    {
                        break;
                    }

                    index[d] = 0;
                }
            }

            return positions;
        }

        private string KinkCount() =>
            $"{_kinks.Count} {(_options.FastMode ? "direction" : "element")}{(_kinks.Count == 1 ? "" : "s")}";

        private Outcome Finish(Mismatch? worst, int failures, int entries)
        {
            var kinksFail = _options.NonDifferentiable == NonDifferentiablePolicy.Fail && _kinks.Count > 0;
            var passed = failures == 0 && _vjpFailures.Count == 0 && !kinksFail;
            var what = _options.FastMode ? "projections vᵀJu" : "Jacobian entries";
            var tolerance = $"atol {_options.Atol:G3} + rtol {_options.Rtol:G3}·|numeric| + rounding noise 8 ulp(|f|)/ε";
            var sb = new StringBuilder();
            if (passed)
            {
                sb.Append($"GradCheck passed: {entries} {what} within {tolerance}");
                sb.Append(worst is null ? "." : $"; closest: {worst}.");
            }
            else if (failures > 0)
            {
                sb.Append($"GradCheck failed: {failures} of {entries} {what} outside {tolerance}; worst: {worst}.");
            }
            else if (_vjpFailures.Any(f => f.Check == VjpChecks.GradShapes))
            {
                sb.Append("GradCheck failed: backward could not run, so no Jacobian entry was compared.");
            }
            else if (_vjpFailures.Count > 0)
            {
                sb.Append($"GradCheck failed: the {entries} {what} are within {tolerance}, but the VJP is wrong for other cotangents.");
            }
            else
            {
                sb.Append($"GradCheck failed: f is not differentiable at {KinkCount()} (NonDifferentiable = Fail); the {entries} other {what} are within {tolerance}.");
            }

            foreach (var failure in _vjpFailures)
            {
                sb.Append($"\n  VJP check {failure.Check} failed: {failure.Detail}.");
            }

            if (_kinks.Count > 0)
            {
                var verdict = _options.NonDifferentiable == NonDifferentiablePolicy.Fail ? "counted as failures" : "not compared";
                sb.Append($"\n  not differentiable here ({KinkCount()}, one-sided differences disagree; {verdict}):");
                foreach (var kink in _kinks.Take(5))
                {
                    sb.Append($"\n    {kink}");
                }

                if (_kinks.Count > 5)
                {
                    sb.Append($"\n    ... and {_kinks.Count - 5} more");
                }
            }

            return new Outcome(passed, worst, failures + (kinksFail ? _kinks.Count : 0), entries, sb.ToString(), _kinks.ToArray(), _vjpFailures.ToArray());
        }
    }

    /// <summary>Counts compared entries and failures and keeps the worst (or, when all pass, the closest to failing).</summary>
    private sealed class Tally(GradCheckOptions options)
    {
        private double _worstRatio = double.NegativeInfinity;

        public Mismatch? Worst { get; private set; }

        public int Failures { get; private set; }

        public int Entries { get; private set; }

        public void Compare(double analytic, double numeric, double noise, Func<Mismatch> describe)
        {
            var tolerance = options.Atol + options.Rtol * Math.Abs(numeric) + noise;
            var error = Math.Abs(analytic - numeric);
            var ratio = double.IsNaN(error) ? double.PositiveInfinity : error / tolerance;
            Entries++;
            if (!(error <= tolerance))
            {
                Failures++;
            }

            if (ratio > _worstRatio)
            {
                _worstRatio = ratio;
                Worst = describe();
            }
        }
    }
}
