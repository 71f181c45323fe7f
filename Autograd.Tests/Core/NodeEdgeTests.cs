using Autograd;

namespace Autograd.Tests.Core;

/// <summary>
/// A node keeps its first two inputs in inline slots and the rest in a side array, and on release swaps
/// each non-leaf input for its producer: both layouts must give every input its gradient, keep the
/// record-time edges, and let a later pass find its way through released nodes.
/// </summary>
public class NodeEdgeTests
{
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(70)]   // beyond the 64 record-time grad bits kept in one word
    public void EveryInputGetsItsGradient_AndReleasedEdgesStillLeadToTheLeaves(int count)
    {
        // Input i is a leaf that requires grad (i % 3 == 0), a constant (i % 3 == 1), or a non-leaf 2·x (i % 3 == 2).
        var leaves = new Tensor<double>[count];
        var inputs = new Tensor<double>[count];
        for (var i = 0; i < count; i++)
        {
            leaves[i] = Tensor.FromArray(new[] { i + 1.0 }, [1], requiresGrad: i % 3 != 1);
            inputs[i] = i % 3 == 2 ? leaves[i].Mul(Tensor.Scalar(2.0)) : leaves[i];
        }

        var cat = Tensor.Cat(inputs);
        var node = (Node<double>)cat.GradFn!;
        Assert.That(node.Inputs, Is.EqualTo(inputs).Using<Tensor<double>>(ReferenceEquals));

        // Edges are fixed at record time: a leaf that stops requiring grad afterwards still gets its gradient.
        var flipped = count > 64 ? 66 : 0;
        leaves[flipped].RequiresGrad = false;
        var squares = cat.Mul(cat).Sum();
        squares.Backward();
        Assert.That(node.IsReleased, Is.True);
        Assert.That(node.Inputs, Is.Empty);

        // d(Σ y²)/dx = 2y·dy/dx: 2x for a leaf, 8x for a doubled one, none for a constant.
        for (var i = 0; i < count; i++)
        {
            var x = i + 1.0;
            if (i % 3 == 1)
            {
                Assert.That(leaves[i].Grad, Is.Null, $"input {i}");
            }
            else
            {
                Assert.That(leaves[i].Grad!.Item(), Is.EqualTo(i % 3 == 2 ? 8 * x : 2 * x), $"input {i}");
            }
        }

        // A second pass through the released graph throws, naming its latest node; so does a Tensor.Grad
        // whose path runs through the released Cat, found through its edges (producers, leaves).
        var ex = Assert.Throws<InvalidOperationException>(() => squares.Backward());
        Assert.That(ex!.Message, Does.Contain("'Sum'").And.Contain("already freed"));
        var again = cat.Sum();
        var target = count >= 3 ? leaves[2] : leaves[0];
        leaves[0].RequiresGrad = true;
        ex = Assert.Throws<InvalidOperationException>(() => Tensor.Grad(again, target, retainGraph: true));
        Assert.That(ex!.Message, Does.Contain("'Cat'").And.Contain("already freed"));

        // A pass that only needs the released node's output does not run it.
        Assert.That(Tensor.Grad(again, cat)!.ToArray(), Is.All.EqualTo(1.0));
    }
}
