using System.Globalization;
using System.Text.RegularExpressions;
using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Testing;

/// <summary>The failure report: the minimal case, the replay seed and a ready-to-paste NUnit test.</summary>
public class ReportTests
{
    /// <summary>The example of docs/gradcheck.md: a matrix product whose VJP forgets a transpose.</summary>
    private sealed class MyMatMul : Function<double>
    {
        protected override Tensor<double> Forward(FunctionContext<double> ctx, Tensor<double>[] inputs)
        {
            ctx.SaveForBackward(inputs[0], inputs[1]);
            return inputs[0].MatMul(inputs[1]);
        }

        protected override void Backward(FunctionContext<double> ctx, Tensor<double> g, Span<Tensor<double>?> grads)
        {
            var (x, w) = (ctx.SavedTensors[0], ctx.SavedTensors[1]);
            grads[0] = g.MatMul(w);                 // wrong: dX = g · Wᵀ
            grads[1] = x.Transpose(0, 1).MatMul(g); // dW = Xᵀ · g
        }
    }

    /// <summary>A replay seed under which the docs example fails on its first case (found by running it once).</summary>
    private const string DocsReplay = "15140912007135863356,5040047739914768721,2";

    private static GradPropertyFailure RunDocsExample(string? replay = DocsReplay)
    {
        var e = Assert.Throws<GradPropertyException>(() =>
            GradProperty.Check(
                new CaseSpec().Int("n", 1, 4).Int("d", 1, 4).Views(2),
                c => [[c["n"], c["d"]], [c["d"], c["d"]]],
                (c, xs) => new MyMatMul().Apply(xs[0], xs[1]),
                replay: replay));
        TestContext.Out.WriteLine(e!.Message);
        return e.Failure!;
    }

    [Test]
    public void Report_HasTheMinimalCase_TheReplaySeed_TheCheck_AndAPastableTest()
    {
        var failure = RunDocsExample();
        var lines = failure.ToString().Split('\n');

        Assert.That(failure.Tests, Is.EqualTo(1), "the replayed seed fails first");
        Assert.That(lines[0], Does.Match(@"^GradProperty falsified after 1 test; \d+ shrinks? to the minimal case\.$"));
        Assert.That(lines[1], Does.Match(@"^Minimal case:  SpecCase \{ n=1, d=2; inputs \[1, 2\], \[2, 2\]; seed \d+(; decimals \d)? \}$"));
        Assert.That(lines[2], Does.StartWith("Original case: SpecCase { n="));
        Assert.That(lines[3], Is.EqualTo($"Replay:        \"{DocsReplay}\" (GradProperty.Check(..., replay: \"{DocsReplay}\") tries this failure first)"));
        Assert.That(lines[4], Does.Match(@"^GradCheck failed: \d+ of 12 Jacobian entries outside atol 1E-05 \+ rtol 0\.001·\|numeric\| \+ rounding noise 8 ulp\(\|f\|\)/ε; worst: input 0 at \[0, \d\], output at \[0, \d\]: "));
        Assert.That(lines[5], Is.EqualTo("Reproduce the minimal case with this NUnit test (using Autograd; using Autograd.Testing;):"));
        Assert.That(lines[6], Is.Empty);
        Assert.That(string.Join('\n', lines[7..]), Is.EqualTo(failure.NUnitTest));
    }

    [Test]
    public void Docs_ShowTheRealReport()
    {
        // docs/gradcheck.md pastes the report of RunDocsExample(); this keeps the two the same.
        var doc = File.ReadAllText(Path.Combine(TestData.RepoRoot(), "docs", "gradcheck.md")).ReplaceLineEndings("\n");
        var marker = doc.IndexOf("<!-- ReportTests.Docs_ShowTheRealReport", StringComparison.Ordinal);
        Assert.That(marker, Is.GreaterThan(0), "the marker before the pasted report");
        var start = doc.IndexOf("```\n", marker, StringComparison.Ordinal) + 4;
        var end = doc.IndexOf("\n```", start, StringComparison.Ordinal);

        Assert.That(RunDocsExample().ToString().TrimEnd('\n'), Is.EqualTo(doc[start..end]));
    }

    [Test]
    public void NUnitTest_SpellsOutTheCaseTheFunctionAndTheLiteralLeaves()
    {
        var failure = RunDocsExample();
        var minimal = (SpecCase)failure.MinimalCase;
        var lines = failure.NUnitTest!.Split('\n');

        Assert.That(lines[0], Is.EqualTo("[Test]"));
        Assert.That(lines[1], Is.EqualTo("public void GradCheck_SpecCase_Minimal()"));
        Assert.That(lines[2], Is.EqualTo("{"));
        Assert.That(lines[3], Is.EqualTo($"    // {minimal}"));
        Assert.That(lines[4], Is.EqualTo($"    var @case = new Case([\"n\", \"d\"], [1, 2], [ViewKind.Contiguous, ViewKind.Contiguous], {minimal.Case.Seed});"));
        Assert.That(lines[5], Is.EqualTo("    Func<Case, Tensor<double>[], Tensor<double>> f = (c, xs) => new MyMatMul().Apply(xs[0], xs[1]);"));
        for (var i = 0; i < 2; i++)
        {
            var sample = minimal.Inputs[i];
            var literal = string.Join(", ", sample.LeafValues().Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
            Assert.That(lines[6 + i], Is.EqualTo($"    var x{i} = Tensor.FromArray(new double[] {{ {literal} }}, [{string.Join(", ", sample.LeafShape)}], requiresGrad: true);"));
        }

        Assert.That(lines[8], Is.EqualTo("    GradCheck.Check(xs => f(@case, [xs[0], xs[1]]), [x0, x1]).ThrowIfFailed();"));
        Assert.That(lines[9], Is.EqualTo("}"));
    }

    [Test]
    public void PastedReproduction_FailsTheSameWay()
    {
        // Pasted verbatim from the report of RunDocsExample() (see docs/gradcheck.md), then wrapped in Assert.Throws.
        var @case = new Case(["n", "d"], [1, 2], [ViewKind.Contiguous, ViewKind.Contiguous], 108668925);
        Func<Case, Tensor<double>[], Tensor<double>> f = (c, xs) => new MyMatMul().Apply(xs[0], xs[1]);
        var x0 = Tensor.FromArray(new double[] { 0, 0 }, [1, 2], requiresGrad: true);
        var x1 = Tensor.FromArray(new double[] { 0, 0, -1, -1 }, [2, 2], requiresGrad: true);
        var e = Assert.Throws<GradCheckException>(() => GradCheck.Check(xs => f(@case, [xs[0], xs[1]]), [x0, x1]).ThrowIfFailed());

        Assert.That(e!.Result!.Worst!.Input, Is.EqualTo(0));
        Assert.That(e.Message, Is.EqualTo(e.Result.Message));
    }

    [Test]
    public void Replay_RunsTheSameFailingCaseFirst_AndShrinksItTheSameWay()
    {
        var first = RunDocsExample(replay: null);
        var again = RunDocsExample(first.Replay);

        Assert.That(again.Tests, Is.EqualTo(1));
        Assert.That(again.OriginalCase.ToString(), Is.EqualTo(first.OriginalCase.ToString()));
        Assert.That(again.MinimalCase.ToString(), Is.EqualTo(first.MinimalCase.ToString()));
        Assert.That(again.NUnitTest, Is.EqualTo(first.NUnitTest));
    }

    [Test]
    public void ToNUnitTest_OfADirectCheck_IsExactlyThis()
    {
        var a = Tensor.FromArray(new double[] { 0.5, -1.25 }, [2], requiresGrad: true);
        var w = Tensor.FromArray(new double[] { 2, 0.1, -3, 1e-7 }, [2, 2], requiresGrad: true);
        var b = Tensor.FromArray(new double[] { 1 }, [1]);
        var result = GradCheck.Check(xs => xs[0].MatMul(xs[1]) + xs[2], [a, w, b], new GradCheckOptions { FastMode = true, Seed = 3 });

        Assert.That(result.ToNUnitTest("MatMul_Bias"), Is.EqualTo(
            """
            [Test]
            public void MatMul_Bias()
            {
                var x0 = Tensor.FromArray(new double[] { 0.5, -1.25 }, [2], requiresGrad: true);
                var x1 = Tensor.FromArray(new double[] { 2, 0.1, -3, 1E-07 }, [2, 2], requiresGrad: true);
                var x2 = Tensor.FromArray(new double[] { 1 }, [1]);
                GradCheck.Check(xs => xs[0].MatMul(xs[1]) + xs[2], [x0, x1, x2], new GradCheckOptions { FastMode = true, Seed = 3 }).ThrowIfFailed();
            }

            """.ReplaceLineEndings("\n")));
    }

    [Test]
    public void Literals_ParseBackToTheSameDoubles_AndLongArraysWrap()
    {
        double[] values = [-0.0, 0.1, 1.0 / 3, -1e-300, 123456789.125, double.Epsilon, 1, 2, 3];
        var x = Tensor.FromArray(values, [9], requiresGrad: true);
        var test = GradCheck.Check(xs => xs[0] * 2.0, [x]).ToNUnitTest();

        var literal = Regex.Match(test, @"new double\[\] \{ (.*?) \}", RegexOptions.Singleline).Groups[1].Value;
        Assert.That(literal, Does.Contain(",\n        "), "eight values a line");
        var parsed = literal.Split(',', StringSplitOptions.TrimEntries).Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        Assert.That(parsed.Select(BitConverter.DoubleToInt64Bits), Is.EqualTo(values.Select(BitConverter.DoubleToInt64Bits)));
        Assert.That(literal, Does.StartWith("-0.0, 0.1, 0.3333333333333333, -1E-300"));
    }

    [Test]
    public void ACaseThatThrows_IsShrunkAndReproducedToo()
    {
        // An op that cannot handle a dimension of 3: the exception is the failure, and it still shrinks.
        var e = Assert.Throws<GradPropertyException>(() => GradProperty.Check(
            Arbitraries.Tensor(minRank: 1, maxRank: 3, maxDim: 4),
            x => x.Shape.Contains(3) ? throw new NotSupportedException("no threes") : x.Exp(),
            maxTest: 200));

        var failure = e!.Failure!;
        Assert.That(((TensorCase)failure.MinimalCase).Shape, Is.EqualTo(new[] { 3 }));
        Assert.That(failure.Exception, Is.TypeOf<NotSupportedException>());
        Assert.That(failure.ToString(), Does.Contain("Threw NotSupportedException: no threes"));
        Assert.That(failure.NUnitTest, Does.Contain("Func<Tensor<double>, Tensor<double>> f = x => x.Shape.Contains(3) ? throw new NotSupportedException(\"no threes\") : x.Exp();"));
        Assert.That(failure.NUnitTest, Does.Contain("GradCheck.Check(xs => f(xs[0]), [x0]).ThrowIfFailed();"));
    }

    [Test]
    public void CaseSpecProperty_ReportsTheUsersCheckCall()
    {
        // The older form, where the property builds its own inputs: the reproduction repeats the function
        // text given to GradCheck.Check and says which locals to recreate.
        var e = Assert.Throws<GradPropertyException>(() => GradProperty.Check(
            new CaseSpec().Int("n", 1, 3).Views(1),
            c =>
            {
                var (x, view) = Inputs.Make([c["n"], 2], c.View(0), c.Generator());
                return GradCheck.Check(t => TestFunctions.Scale(view(t[0]), TestFunctions.ScaleBug.Affine), [x]);
            }));

        var failure = e!.Failure!;
        Assert.That(((Case)failure.MinimalCase)["n"], Is.EqualTo(1));
        Assert.That(failure.NUnitTest, Does.Contain("// n=1, views=[Contiguous], seed="));
        Assert.That(failure.NUnitTest, Does.Contain("recreate the locals it uses"));
        Assert.That(failure.NUnitTest, Does.Contain("GradCheck.Check(t => TestFunctions.Scale(view(t[0]), TestFunctions.ScaleBug.Affine), [x0]).ThrowIfFailed();"));
    }

    /// <summary>
    /// y = Σ (i + 1)·x_i, with a forward that reads the storage as if the tensor were contiguous (the
    /// classic kernel bug) and a VJP that is right: the two agree only on contiguous inputs.
    /// </summary>
    private static Tensor<double> WeightedSumIgnoringStrides(Tensor<double> x) => Function.Apply("WeightedSum", [x], xs =>
    {
        var t = xs[0];
        var raw = t.Storage.Span.Slice(t.Offset, t.Numel).ToArray();
        var shape = t.Shape;
        var y = Tensor.Scalar(raw.Select((v, i) => (i + 1) * v).Sum());
        return (y, (g, grads) => grads[0] = Tensor.FromArray(Enumerable.Range(1, raw.Length).Select(i => i * g.Item()).ToArray(), shape));
    });

    [Test]
    public void AFailureThatNeedsAView_KeepsTheViewInTheReproduction()
    {
        var e = Assert.Throws<GradPropertyException>(() => GradProperty.Check(
            Arbitraries.Tensor(minRank: 2, maxRank: 3, views: [ViewKind.Contiguous, ViewKind.Transposed]),
            x => WeightedSumIgnoringStrides(x),
            maxTest: 100));

        var minimal = (TensorCase)e!.Failure!.MinimalCase;
        Assert.That(minimal.Shape, Is.EqualTo(new[] { 2, 2 }));
        Assert.That(minimal.Inputs[0].EffectiveView, Is.EqualTo(ViewKind.Transposed));
        Assert.That(minimal.ToString(), Does.Contain("inputs [2, 2] Transposed"));
        Assert.That(e.Failure.NUnitTest, Does.Contain("GradCheck.Check(xs => f(xs[0].Transpose(-1, -2)), [x0]).ThrowIfFailed();"));
    }
}
