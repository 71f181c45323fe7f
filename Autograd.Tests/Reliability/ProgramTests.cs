using Autograd;
using Autograd.Testing;

namespace Autograd.Tests.Reliability;

/// <summary>Random tensor programs (Autograd.Testing's <see cref="Programs"/>) checked by finite differences.</summary>
public class ProgramTests
{
    /// <summary>The number of programs generated per run; docs/reliability.md quotes it.</summary>
    public const int ProgramCount = 300;

    [Test]
    public void RandomPrograms_GradientsMatchFiniteDifferences() => Programs.Check(maxTest: ProgramCount);

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

    private static IEnumerable<int> TensorProgramReads(ProgramInstruction x) =>
        x.Op is ProgramOp.Add or ProgramOp.Sub or ProgramOp.Mul or ProgramOp.Div or ProgramOp.MatMul or ProgramOp.InPlace ? [x.A, x.B] : [x.A];
}
