using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;
using FsCheck;
using TestData = Autograd.Tests.Support.TestData;
using FsCheck.Fluent;

namespace Autograd.Tests.Ops;

/// <summary>
/// In-place ops: values against the out-of-place ops over generated target views and broadcast
/// operands, version bumps, the grad-mode rules, and the saved-tensor version check in backward.
/// </summary>
public class InPlaceTests
{
    private const int OpCount = 9;

    /// <summary>
    /// The in-place op <paramref name="op"/> applied to <paramref name="x"/>, and the value it must
    /// produce computed out of place from <paramref name="before"/> (a copy of x taken first).
    /// </summary>
    private static (Tensor<double> Result, Tensor<double> Expected) Run(int op, Tensor<double> x, Tensor<double> before, Tensor<double> b, Tensor<double> c)
    {
        const double alpha = -0.75;
        return op switch
        {
            0 => (x.AddInPlace(b, alpha), before + b * Tensor.Scalar(alpha)),
            1 => (x.AddInPlace(b), before + b),
            2 => (x.SubInPlace(b, alpha), before - b * Tensor.Scalar(alpha)),
            3 => (x.MulInPlace(b), before * b),
            4 => (x.DivInPlace(c), before / c),
            5 => (x.AddcmulInPlace(b, c, alpha), before + b * c * Tensor.Scalar(alpha)),
            6 => (x.AddcdivInPlace(b, c, alpha), before + b / c * Tensor.Scalar(alpha)),
            7 => (x.LerpInPlace(b, alpha), before + (b - before) * Tensor.Scalar(alpha)),
            _ => (x.CopyFrom(b), (before * Tensor.Scalar(0.0)) + b),
        };
    }

    [Test]
    [Category("GradProperty")]
    public void InPlaceOps_MatchOutOfPlaceOps_OnViewsWithBroadcasting()
    {
        // Target: a non-overlapping view (contiguous, transposed or every second element of a wider
        // leaf); operands: any view (including expanded) of a shape that broadcasts to the target's.
        var spec = new CaseSpec()
            .Int("op", 0, OpCount - 1)
            .Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4)
            .Int("rank", 1, 3).Int("rankB", 0, 3).Int("onesB", 0, 7).Int("rankC", 0, 3).Int("onesC", 0, 7)
            .Views(3)
            .Where(c => c["rankB"] <= c["rank"] && c["rankC"] <= c["rank"] && c.View(0) != ViewKind.Expanded);
        var property = Prop.ForAll(spec.Arbitrary(), c =>
        {
            using var _ = Tensor.NoGrad();
            int[] full = [c["d0"], c["d1"], c["d2"]];
            var g = c.Generator();
            var (xLeaf, xView) = Inputs.Make(TestData.Suffix(full, c["rank"], 0), c.View(0), g);
            var (bLeaf, bView) = Inputs.Make(TestData.Suffix(full, c["rankB"], c["onesB"]), c.View(1), g);
            var (cLeaf, cView) = Inputs.Make(TestData.Suffix(full, c["rankC"], c["onesC"]), c.View(2), g, 0.5, 2);
            var storageBefore = xLeaf.ToArray();
            var x = xView(xLeaf);
            var version = x.Storage.Version;
            var (result, expected) = Run(c["op"], x, x.Clone(), bView(bLeaf), cView(cLeaf));

            // The view now holds the expected values; every storage element outside it is untouched.
            var outside = xLeaf.Detach().Clone();
            using (Tensor.NoGrad())
            {
                xView(outside).CopyFrom(xView(Tensor.FromArray(storageBefore, xLeaf.Shape)));
            }

            return ReferenceEquals(result, x)
                && x.Storage.Version == version + 1
                && Close(x.ToArray(), expected.ToArray())
                && outside.ToArray().SequenceEqual(storageBefore);
        });
        GradProperty.Check(property, maxTest: 300);
    }

    private static bool Close(double[] actual, double[] expected) =>
        actual.Length == expected.Length && actual.Zip(expected).All(p => Math.Abs(p.First - p.Second) <= 1e-12 * (1 + Math.Abs(p.Second)));

    [Test]
    public void ScalarForms_Fill_And_Zero()
    {
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, [2, 2]);
        x.AddInPlace(1f).MulInPlace(2f).SubInPlace(1f).DivInPlace(4f);
        Assert.That(x.ToArray(), Is.EqualTo(new float[] { 0.75f, 1.25f, 1.75f, 2.25f }));
        x.Transpose(0, 1).Narrow(0, 1, 1).Fill(9f);
        Assert.That(x.ToArray(), Is.EqualTo(new float[] { 0.75f, 9f, 1.75f, 9f }));
        x.Zero();
        Assert.That(x.ToArray(), Is.All.EqualTo(0f));
        Assert.That(x.Storage.Version, Is.EqualTo(6));
    }

    [Test]
    public void OperandAliasingTheTarget_ReadsTheOldValues()
    {
        // x += xᵀ must read every element of xᵀ before it is overwritten (PyTorch copies or refuses here).
        var x = Tensor.FromArray(new double[] { 1, 2, 3, 4 }, [2, 2]);
        x.AddInPlace(x.Transpose(0, 1));
        Assert.That(x.ToArray(), Is.EqualTo(new double[] { 2, 5, 5, 8 }));
        x.MulInPlace(x);
        Assert.That(x.ToArray(), Is.EqualTo(new double[] { 4, 25, 25, 64 }));
    }

    [Test]
    public void WritingIntoAnExpandedView_Throws()
    {
        var x = Tensor.Zeros<double>(1, 3).Expand(4, 3);
        var e = Assert.Throws<ArgumentException>(() => x.AddInPlace(1.0));
        Assert.That(e!.Message, Does.Contain("AddInPlace").And.Contain("overlapping view").And.Contain("[4, 3]"));
        Assert.That(x.ToArray(), Is.All.EqualTo(0.0));
    }

    [TestCase(new[] { 3 }, new[] { 2 })]
    [TestCase(new[] { 2, 3 }, new[] { 2, 2, 3 })]
    [TestCase(new[] { 2, 1 }, new[] { 2, 3 })]
    public void OperandThatDoesNotBroadcastToTheTarget_Throws(int[] target, int[] operand)
    {
        var x = Tensor.Zeros<double>(target);
        var b = Tensor.Ones<double>(operand);
        var e = Assert.Throws<ArgumentException>(() => x.MulInPlace(b));
        Assert.That(e!.Message, Does.Contain("MulInPlace").And.Contain(ShapeMath.Format(operand)).And.Contain(ShapeMath.Format(target)));
        Assert.That(e.ParamName, Is.EqualTo("other"));
        Assert.That(x.ToArray(), Is.All.EqualTo(0.0), "nothing written");
        Assert.That(x.Storage.Version, Is.Zero);
    }

    [Test]
    public void LeafThatRequiresGrad_IsWritableOnlyUnderNoGrad()
    {
        var w = Tensor.Ones<double>(3);
        w.RequiresGrad = true;
        var e = Assert.Throws<InvalidOperationException>(() => w.SubInPlace(Tensor.Ones<double>(3), 0.1));
        Assert.That(e!.Message, Does.Contain("SubInPlace").And.Contain("leaf that requires grad").And.Contain("NoGrad"));
        using (Tensor.NoGrad())
        {
            w.SubInPlace(Tensor.Ones<double>(3), 0.5);
        }

        Assert.That(w.ToArray(), Is.All.EqualTo(0.5));
        Assert.That(w.IsLeaf && w.RequiresGrad, Is.True);
    }

    [Test]
    public void RecordedTensorOrOperandThatRequiresGrad_Throws()
    {
        var w = Tensor.Ones<double>(3);
        w.RequiresGrad = true;
        var y = w * Tensor.Scalar(2.0);
        var e = Assert.Throws<InvalidOperationException>(() => y.AddInPlace(1.0));
        Assert.That(e!.Message, Does.Contain("AddInPlace").And.Contain("'Mul'").And.Contain("out-of-place"));
        var plain = Tensor.Zeros<double>(3);
        e = Assert.Throws<InvalidOperationException>(() => plain.AddcmulInPlace(Tensor.Ones<double>(3), w, 1.0));
        Assert.That(e!.Message, Does.Contain("AddcmulInPlace").And.Contain("tensor2").And.Contain("requires grad"));
        Assert.That(plain.ToArray(), Is.All.EqualTo(0.0));
    }

    [Test]
    public void ZeroGradOfASavedGradient_MakesBackwardThrow()
    {
        // The example: y = (v * w.Grad).Sum(); w.ZeroGrad(); y.Backward() used to give v.Grad = 0.
        var w = Tensor.FromArray(new double[] { 1, 2, 3 }, [3], requiresGrad: true);
        (w * w).Sum().Backward();
        var v = Tensor.FromArray(new double[] { 1, 1, 1 }, [3], requiresGrad: true);
        var y = (v * w.Grad!).Sum();
        w.ZeroGrad();
        var e = Assert.Throws<SavedTensorModifiedException>(() => y.Backward());
        Assert.That(e!.OpName, Is.EqualTo("Mul"));
        Assert.That(e.Message, Does.Contain("'Mul'").And.Contain("[3]").And.Contain("modified in place"));
        Assert.That(v.Grad, Is.Null);
    }

    private static IEnumerable<TestCaseData> SavingOps()
    {
        // (name, op of x, whether writing x after the op must make backward throw)
        yield return new TestCaseData("Mul", (Func<Tensor<double>, Tensor<double>, Tensor<double>>)((x, p) => x * p), true);
        yield return new TestCaseData("Div", (Func<Tensor<double>, Tensor<double>, Tensor<double>>)((x, p) => p / (x + Tensor.Scalar(3.0))), false);
        yield return new TestCaseData("Add", (Func<Tensor<double>, Tensor<double>, Tensor<double>>)((x, p) => x + p), false);
        yield return new TestCaseData("MatMul", (Func<Tensor<double>, Tensor<double>, Tensor<double>>)((x, p) => x.Reshape(1, 4).MatMul(p.Reshape(4, 1))), true);
        yield return new TestCaseData("Log", (Func<Tensor<double>, Tensor<double>, Tensor<double>>)((x, p) => (p + x).Log()), false);
        yield return new TestCaseData(
            "Conv2d", (Func<Tensor<double>, Tensor<double>, Tensor<double>>)((x, p) => x.Reshape(1, 1, 2, 2).Conv2d(p.Reshape(1, 1, 2, 2), null, padding: 1)), true);
    }

    [TestCaseSource(nameof(SavingOps))]
    public void WritingAnInputAfterTheOp_ThrowsExactlyWhenTheVjpReadsIt(string name, Func<Tensor<double>, Tensor<double>, Tensor<double>> f, bool reads)
    {
        // x does not require grad; p does. Ops whose dp reads x must refuse a changed x.
        var x = Tensor.FromArray(new double[] { 1, 2, 3, 4 }, [4]);
        var p = Tensor.FromArray(new double[] { 0.5, 1, 1.5, 2 }, [4], requiresGrad: true);
        var y = f(x, p).Sum();
        x.AddInPlace(1.0);
        if (reads)
        {
            var e = Assert.Throws<SavedTensorModifiedException>(() => y.Backward());
            Assert.That(e!.OpName, Is.EqualTo(name));
        }
        else
        {
            Assert.DoesNotThrow(() => y.Backward());
        }
    }

    public static IEnumerable<TestCaseData> EveryDifferentiableOp() =>
        OpCatalogue.All.Where(c => c.Differentiable && c.Shapes(c.Sizes).Length > 0).Select(c => new TestCaseData(c).SetArgDisplayNames(c.Label));

    /// <summary>
    /// Every op of the catalogue, each input in turn and then the output written after the op (under NoGrad, as
    /// a user may): backward either refuses with <see cref="SavedTensorModifiedException"/> or gives the bits
    /// of the run without the write, never a gradient computed from the new values. An op whose VJP reads a
    /// tensor it did not declare saved fails here (mutation testing found the elementwise ops' saved sets
    /// untested beyond the six ops of the test above).
    /// </summary>
    [TestCaseSource(nameof(EveryDifferentiableOp))]
    public void EveryOp_WritingAnInputOrTheOutputAfterTheOp_ThrowsOrLeavesTheGradientsUnchanged(OpCall call)
    {
        (Tensor<double>[] Leaves, Tensor<double> Y) Run()
        {
            var leaves = call.Leaves(call.Sizes);
            return (leaves, call.Apply(call.Sizes, leaves));
        }

        var (leaves, y) = Run();
        Assume.That(y.Numel > 0 && y.RequiresGrad, "an empty or constant result has no gradient to compare");
        var seed = Tensor.FromArray(new TensorSample(y.ShapeArray, ViewKind.Contiguous, 11, -1, 1).LeafValues(), y.ShapeArray);
        y.Backward(seed);
        var expected = leaves.Select(l => l.Grad?.ToArray()).ToArray();

        var checkedTargets = 0;
        for (var target = 0; target <= leaves.Length; target++)
        {
            (leaves, y) = Run();
            var written = target < leaves.Length ? leaves[target] : y;
            try
            {
                using (Tensor.NoGrad())
                {
                    // New values inside the op's domain [Lo, Hi): halve the distance to Lo.
                    written.SubInPlace(call.Lo).MulInPlace(0.5).AddInPlace(call.Lo);
                }
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                continue; // not writable (an expanded view of a leaf, ...): nothing can change behind the op's back
            }

            checkedTargets++;
            var what = target < leaves.Length ? $"input {target}" : "the output";
            try
            {
                y.Backward(seed);
            }
            catch (SavedTensorModifiedException)
            {
                continue;
            }

            for (var i = 0; i < leaves.Length; i++)
            {
                Assert.That(leaves[i].Grad?.ToArray(), Is.EqualTo(expected[i]), $"{call.Label}: after writing {what}, the gradient of input {i} changed without an error");
            }
        }

        Assert.That(checkedTargets, Is.GreaterThan(0), "no input or output could be written");
    }

    [Test]
    public void WritingASavedOutput_UnderNoGrad_MakesBackwardThrow()
    {
        var x = Tensor.FromArray(new double[] { -1, 2 }, [2], requiresGrad: true);
        var y = x.Relu();
        using (Tensor.NoGrad())
        {
            y.Fill(5.0); // y is recorded, but grad mode is off: allowed, and Relu's saved output changed
        }

        var e = Assert.Throws<SavedTensorModifiedException>(() => y.Sum().Backward());
        Assert.That(e!.OpName, Is.EqualTo("Relu"));
    }

    [Test]
    public void AViewSharesTheVersionCounter()
    {
        var x = Tensor.Zeros<double>(2, 3);
        var row = x.Select(0, 1);
        row.Fill(2.0);
        Assert.That(x.Storage.Version, Is.EqualTo(1));
        Assert.That(x.ToArray(), Is.EqualTo(new double[] { 0, 0, 0, 2, 2, 2 }));
    }
}
