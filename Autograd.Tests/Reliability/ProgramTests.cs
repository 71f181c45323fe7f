using Autograd;
using Autograd.Testing;

namespace Autograd.Tests.Reliability;

/// <summary>Random tensor programs (Autograd.Testing's <see cref="Programs"/>) checked by finite differences.</summary>
public class ProgramTests
{
    /// <summary>The number of programs generated per run; docs/reliability.md quotes it.</summary>
    public const int ProgramCount = 300;

    /// <summary>AUTOGRAD_PROGRAMS=N runs N programs instead of <see cref="ProgramCount"/> (a long search, opt-in).</summary>
    [Test]
    public void RandomPrograms_GradientsMatchFiniteDifferences() =>
        Programs.Check(maxTest: int.TryParse(Environment.GetEnvironmentVariable("AUTOGRAD_PROGRAMS"), out var n) && n > 0 ? n : ProgramCount);

    /// <summary>The generator reaches every op, reads values more than once, and writes constants in place.</summary>
    [Test]
    public void Generator_CoversEveryOp_FanIn_AndInPlaceWrites()
    {
        var ops = new HashSet<ProgramOp>();
        var fanIn = 0;
        for (var seed = 0UL; seed < ProgramCount; seed++)
        {
            var program = Programs.Generate(seed, 1 + (int)(seed % 8));
            Assert.That(program.Normalize(), Is.EqualTo(program), () => $"generated programs are valid as they stand: {program}");
            ops.UnionWith(program.Instructions.Select(x => x.Op));
            var reads = program.Instructions.SelectMany(x => TensorProgramReads(x)).GroupBy(v => v);
            fanIn += reads.Any(g => g.Count() > 1) ? 1 : 0;
        }

        Assert.That(ops, Is.EquivalentTo(Enum.GetValues<ProgramOp>()));
        Assert.That(fanIn, Is.GreaterThan(ProgramCount / 4), "programs that read some value twice");
    }

    /// <summary>exp(exp(exp(exp(0.75))))² overflows, so the property discards that program instead of failing on it.</summary>
    [Test]
    public void OverflowingPrograms_AreNotChecked()
    {
        ProgramInstruction Exp(int a) => new(ProgramOp.Exp, a, a, []);
        var program = new TensorProgram([new ProgramInput([2, 2], true)], [Exp(0), Exp(1), Exp(2), Exp(3)], Seed: 149435059);
        Assert.That(program.MakeInputs()[0].ToArray().Max(), Is.GreaterThan(0.7), "exp⁴(0.7) overflows");
        Assert.That(program.HasFiniteValues(), Is.False);
        var shorter = program with { Instructions = program.Instructions[..3] };
        Assert.That(shorter.HasFiniteValues(), Is.True);
        Assert.That(shorter.Check().Passed, Is.True);

        // exp⁴(0.57)² = 1e307 is finite, its gradient is not: discarded too.
        var finiteOutput = new TensorProgram([new ProgramInput([], true), new ProgramInput([], true)], [Exp(1), Exp(2), Exp(3), Exp(4)], Seed: 1129685957, Decimals: 2);
        Assert.That(double.IsFinite(finiteOutput.Run(finiteOutput.MakeInputs()).Item()), Is.True);
        Assert.That(finiteOutput.HasFiniteValues(), Is.False);
    }

    [Test]
    public void Shrink_GivesSmallerValidPrograms()
    {
        var program = Programs.Generate(7, 8);
        foreach (var smaller in Programs.Shrink(program))
        {
            Assert.That(smaller.Normalize(), Is.EqualTo(smaller));
            Assert.That(smaller.Instructions.Length, Is.LessThanOrEqualTo(program.Instructions.Length));
        }
    }

    [Test]
    public void ToNUnitTest_PrintsTheInputsAndEveryInstruction()
    {
        var program = new TensorProgram(
            [new ProgramInput([2, 3], true), new ProgramInput([3], false)],
            [
                new ProgramInstruction(ProgramOp.Mul, 0, 1, []),
                new ProgramInstruction(ProgramOp.Sum, 2, 0, [1, 0]),
                new ProgramInstruction(ProgramOp.InPlace, 1, 1, [2]),
            ],
            Seed: 3);
        var text = program.ToNUnitTest();
        Assert.That(text, Does.Contain("var x0 = Tensor.FromArray(new double[] {"));
        Assert.That(text, Does.Contain("var v2 = v0 * v1;"));
        Assert.That(text, Does.Contain("var v3 = v2.Sum(1, keepDim: false);"));
        Assert.That(text, Does.Contain("var v4 = v1.Clone(); v4.MulInPlace(v1);"));
        Assert.That(text, Does.Contain("return (v3 * v3).Sum();"));
        program.Check().ThrowIfFailed();
    }

    /// <summary>
    /// A generated program (in-place writes, Max, Mean, Div) as <see cref="TensorProgram.ToNUnitTest"/>
    /// printed it, pasted unchanged: the printed C# compiles and passes.
    /// </summary>
    [Test]
    public void Generated_59()
    {
        // TensorProgram { inputs v0 [1], v1 [1] const, v2 []; 8 instructions; seed 59 }
        var x0 = Tensor.FromArray(new double[] { 0.96 }, [1], requiresGrad: true);
        var x1 = Tensor.FromArray(new double[] { 0.43 }, [1]);
        var x2 = Tensor.FromArray(new double[] { 0.99 }, [], requiresGrad: true);
        GradCheck.Check(xs =>
            {
                var v0 = xs[0];
                var v1 = xs[1];
                var v2 = xs[2];
                var v3 = v2.Max();
                var v4 = v1.Clone(); v4.Narrow(0, 0, 1).CopyFrom(v1);
                var v5 = v4 / (v3.Sigmoid() + 0.5);
                var v6 = v1.Clone(); v6.AddcmulInPlace(v4, v4, 0.25);
                var v7 = v6.Max();
                var v8 = v7.Mean();
                var v9 = -v8;
                var v10 = v9.Sum();
                return (v0 * v0).Sum() + (v5 * v5).Sum();
            }, [x0, x1, x2]).ThrowIfFailed();
    }

    /// <summary>The minimal program of docs/reliability.md's planted Narrow bug, pasted from the report.</summary>
    [Test]
    public void Program_Minimal()
    {
        // TensorProgram { inputs v0 [2]; 1 instruction; seed 531978108 }
        var x0 = Tensor.FromArray(new double[] { -0.6, 0.5 }, [2], requiresGrad: true);
        GradCheck.Check(xs =>
            {
                var v0 = xs[0];
                var v1 = v0.Narrow(0, 1, 1);
                return (v1 * v1).Sum();
            }, [x0]).ThrowIfFailed();
    }

    private static IEnumerable<int> TensorProgramReads(ProgramInstruction x) =>
        x.Op is ProgramOp.Add or ProgramOp.Sub or ProgramOp.Mul or ProgramOp.Div or ProgramOp.MatMul or ProgramOp.InPlace ? [x.A, x.B] : [x.A];
}
