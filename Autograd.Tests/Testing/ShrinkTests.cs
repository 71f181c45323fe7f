using Autograd;
using Autograd.Testing;
using static Autograd.Tests.Testing.TestFunctions;

namespace Autograd.Tests.Testing;

/// <summary>A deliberately wrong custom op, caught by a generated property and shrunk to a minimal case.</summary>
public class ShrinkTests
{
    /// <summary>X [n, d] · W [d, d]: square weights, so a VJP that forgets a transpose still has the right shape.</summary>
    private static readonly CaseSpec s_square = new CaseSpec().Int("n", 1, 4).Int("d", 1, 4).Views(2);

    private static int[][] SquareShapes(Case c) => [[c["n"], c["d"]], [c["d"], c["d"]]];

    [Test]
    public void ForgottenTranspose_IsShrunkToOneRowAndATwoByTwoWeight()
    {
        var e = Assert.Throws<GradPropertyException>(() => GradProperty.Check(
            s_square, SquareShapes, (c, xs) => new MyMatMul(forgetTranspose: true).Apply(xs[0], xs[1]), maxTest: 100));

        var minimal = (SpecCase)e!.Failure!.MinimalCase;

        // d = 1 cannot fail (a 1×1 W equals its transpose) and n = 1 can: the minimum is n = 1, d = 2.
        Assert.That(minimal.Shapes.SelectMany(s => s), Is.All.LessThanOrEqualTo(2));
        Assert.That(minimal.Case["n"], Is.EqualTo(1));
        Assert.That(minimal.Case["d"], Is.EqualTo(2));
        Assert.That(minimal.Inputs.Select(i => i.EffectiveView), Is.All.EqualTo(ViewKind.Contiguous));
        Assert.That(e.Failure.Result!.Worst!.Input, Is.EqualTo(0), "the wrong gradient is dX");
    }

    [Test]
    public void ForgottenTranspose_OnGeneralMatMulShapes_IsShrunkToDimensionsAtMostTwo()
    {
        // With K ≠ M the wrong VJP cannot even multiply (the case throws); with K = M it is silently
        // wrong. Either way the shrunk case is tiny.
        var e = Assert.Throws<GradPropertyException>(() => GradProperty.Check(
            Arbitraries.MatMul(maxBatchRank: 0, vectors: false),
            (c, xs) => new MyMatMul(forgetTranspose: true).Apply(xs[0], xs[1]),
            maxTest: 100));

        var minimal = (MatMulCase)e!.Failure!.MinimalCase;
        Assert.That(minimal.Shapes.SelectMany(s => s), Is.All.LessThanOrEqualTo(2), minimal.ToString());
        Assert.That(minimal.N, Is.EqualTo(1));
    }

    [Test]
    public void RightOp_PassesTheSameProperties()
    {
        Assert.DoesNotThrow(() => GradProperty.Check(s_square, SquareShapes, (c, xs) => new MyMatMul().Apply(xs[0], xs[1]), maxTest: 50));
        Assert.DoesNotThrow(() => GradProperty.Check(
            Arbitraries.MatMul(maxBatchRank: 0, vectors: false), (c, xs) => new MyMatMul().Apply(xs[0], xs[1]), maxTest: 50));
    }
}
