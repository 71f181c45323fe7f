using System.Numerics;
using System.Runtime.Intrinsics;
using Autograd;
using Autograd.Kernels;

namespace Autograd.Tests.Ops;

/// <summary>
/// <see cref="ConvPlan.Choose{T}"/> picks one strategy per call: the input itself as columns (Y and dW;
/// dX on the geometry's strategy), wide rows, Winograd, phase planes, the shallow kernel or packed columns, in that
/// order (phase planes take strides above 1 whose contraction is too deep for the shallow kernel), with the test and benchmark switches
/// <see cref="WideConv.Disabled"/>, <see cref="Winograd.Disabled"/> and <see cref="PhasePlanes.Disabled"/>.
/// </summary>
[NonParallelizable] // Flips the process-wide path switches.
public class ConvPlanTests
{
    [SetUp]
    public void VectorHardware() =>
        Assume.That(Vector256.IsHardwareAccelerated && Vector.IsHardwareAccelerated, "wide rows, Winograd and the shallow kernel need vector hardware");

    [Test]
    public void OneByOne_AtStrideOne_ReadsAContiguousInputAsColumns()
    {
        // [C, 1, 1, H, W] windows of a contiguous input are the [C, H·W] column matrix: one image per run.
        var small = Geometry(2, 8, 6, 6, 16, 1);
        var plan = Plan(small);
        Assert.That(plan, Is.InstanceOf<DirectColumns<float>>());
        Assert.That(plan.Batch, Is.EqualTo(1));

        // dX does not read the input: it runs where the geometry alone sends it (wide rows for a small image)
        // and a dX-only pass goes there directly.
        Assert.That(((DirectColumns<float>)plan).InputGradientStrategy, Is.InstanceOf<WideRows<float>>());
        Assert.That(ConvPlan.Choose<float>(small, null), Is.InstanceOf<WideRows<float>>());

        var large = Geometry(2, 64, 40, 40, 40, 1);
        var onLarge = Plan(large);
        Assert.That(onLarge, Is.InstanceOf<DirectColumns<float>>());
        Assert.That(((DirectColumns<float>)onLarge).InputGradientStrategy, Is.InstanceOf<PackedColumns<float>>());

        // Groups take their channels' share of the same view.
        var grouped = Geometry(3, 4, 5, 6, 6, 1, groups: 2);
        Assert.That(Plan(grouped), Is.InstanceOf<DirectColumns<float>>());

        // A transposed input, padding or a stride of 2 do not collapse: the columns are packed.
        var transposed = Tensor.Zeros<float>(2, 64, 40, 40).Transpose(2, 3);
        Assert.That(ConvPlan.Choose(large, transposed), Is.TypeOf<PackedColumns<float>>());
        var padded = Geometry(2, 64, 40, 40, 40, 1, padding: 1);
        Assert.That(Plan(padded), Is.TypeOf<PackedColumns<float>>());
        var strided = Geometry(2, 8, 9, 9, 6, 1, stride: 2);
        Assert.That(Plan(strided), Is.TypeOf<ShallowColumns<float>>());
    }

    [Test]
    public void FewInputChannels_TakeTheShallowKernel()
    {
        // K = 3·3·3 = 27 ≤ 32 at stride 2 (not wide rows): one image at a time.
        var plan = Plan(Geometry(4, 3, 32, 32, 16, 3, stride: 2, padding: 1));
        Assert.That(plan, Is.TypeOf<ShallowColumns<float>>());
        Assert.That(plan.Batch, Is.EqualTo(1));
    }

    [Test]
    public void LeNet_RunsOnWideRows_ElseOnColumns()
    {
        // conv1: 1 → 6, 5×5 "same" on 28×28; conv2: 6 → 16, 5×5 on 14×14. A whole chunk per run.
        var conv1 = Geometry(64, 1, 28, 28, 6, 5, padding: 2);
        var conv2 = Geometry(64, 6, 14, 14, 16, 5);
        Assert.That(Plan(conv1), Is.TypeOf<WideRows<float>>());
        Assert.That(Plan(conv2), Is.TypeOf<WideRows<float>>());
        Assert.That(Plan(conv2).Batch, Is.EqualTo(64));
        Assert.That(ConvPlan.Choose<double>(conv2, null), Is.TypeOf<WideRows<double>>());

        WithSwitches(wideOff: true, winogradOff: false, () =>
        {
            // K = 25: the shallow kernel; K = 150: packed columns, 8 images of P = 100 side by side.
            Assert.That(Plan(conv1), Is.TypeOf<ShallowColumns<float>>());
            var packed = Plan(conv2);
            Assert.That(packed, Is.TypeOf<PackedColumns<float>>());
            Assert.That(packed.Batch, Is.EqualTo(ConvColumns.BatchImages(conv2)).And.EqualTo(8));
        });
    }

    [Test]
    public void ThreeByThree_WithSixtyFourChannels_TakesWinograd()
    {
        // c3: 64 → 64, 3×3 "same" on 56×56, too large for wide rows.
        var c3 = Geometry(2, 64, 56, 56, 64, 3, padding: 1);
        Assert.That(Plan(c3), Is.TypeOf<WinogradStrategy<float>>());
        Assert.That(ConvPlan.Choose<double>(c3, null), Is.TypeOf<WinogradStrategy<double>>());

        // Groups of 64 channels each way still qualify; groups of 32 do not, nor 32 input channels (c2), nor dilation.
        var grouped = Geometry(2, 128, 56, 56, 128, 3, padding: 1, groups: 2);
        Assert.That(Plan(grouped), Is.TypeOf<WinogradStrategy<float>>());
        var narrowGroups = Geometry(2, 128, 56, 56, 128, 3, padding: 1, groups: 4);
        Assert.That(Plan(narrowGroups), Is.TypeOf<PackedColumns<float>>());
        var c2 = Geometry(2, 32, 28, 28, 64, 3, padding: 1);
        Assert.That(Plan(c2), Is.TypeOf<PackedColumns<float>>());
        var dilated = Geometry(2, 64, 56, 56, 64, 3, padding: 2, dilation: 2);
        Assert.That(Plan(dilated), Is.TypeOf<PackedColumns<float>>());

        // A small image of 64 channels goes to wide rows first, to Winograd without them.
        var small = Geometry(7, 64, 8, 8, 64, 3, padding: 1);
        Assert.That(Plan(small), Is.TypeOf<WideRows<float>>());
        WithSwitches(wideOff: true, winogradOff: false, () =>
        {
            var plan = Plan(small);
            Assert.That(plan, Is.TypeOf<WinogradStrategy<float>>());

            // dW on the column path batches the small images (P = 64: 3 of them side by side).
            Assert.That(plan.Batch, Is.EqualTo(3));
        });

        WithSwitches(wideOff: false, winogradOff: true, () => Assert.That(Plan(c3), Is.TypeOf<PackedColumns<float>>()));
        WithSwitches(wideOff: true, winogradOff: true, () => Assert.That(Plan(small), Is.TypeOf<PackedColumns<float>>()));
    }

    [Test]
    public void C2_ForwardAloneOnWideRows_GradientsOnColumns_GiveTheColumnPathsValues()
    {
        // c2: 32 → 64, 3×3 "same" on 28×28. dW's wide-row scratch, (K + P) · 64, is over the cap; the forward's is not.
        var c2 = Geometry(2, 32, 28, 28, 64, 3, padding: 1);
        Assert.That((WideConv.Applies<double>(c2), WideConv.AppliesToForward<double>(c2)), Is.EqualTo((false, true)));
        var input = Tensor.Zeros<double>(2, 32, 28, 28);
        Assert.That(ConvPlan.Choose(c2, input, forwardOnly: true), Is.TypeOf<WideRows<double>>());
        Assert.That(ConvPlan.Choose(c2, input), Is.TypeOf<PackedColumns<double>>());

        // Winograd keeps what it takes: 64 channels each way on 28×28 fit the forward's wide rows too.
        var winograd = Geometry(2, 64, 28, 28, 64, 3, padding: 1);
        Assert.That(ConvPlan.Choose(winograd, Tensor.Zeros<double>(2, 64, 28, 28), forwardOnly: true), Is.TypeOf<WinogradStrategy<double>>());

        var generator = new Generator(21);
        var x = Tensor.Randn<double>([2, 32, 28, 28], generator);
        var w = Tensor.Randn<double>([64, 32, 3, 3], generator);
        var b = Tensor.Randn<double>([64], generator);
        var r = Tensor.Randn<double>([2, 64, 28, 28], generator);
        (double[] Y, double[] Dx, double[] Dw, double[] Db) Run()
        {
            var (xs, ws, bs) = (x.Detach(), w.Detach(), b.Detach());
            xs.RequiresGrad = ws.RequiresGrad = bs.RequiresGrad = true;
            var y = xs.Conv2d(ws, bs, padding: 1);
            (y * r).Sum().Backward();
            return (y.ToArray(), xs.Grad!.ToArray(), ws.Grad!.ToArray(), bs.Grad!.ToArray());
        }

        var wide = Run();

        // The recorded forward ran on wide rows: its y is that strategy's, bit for bit, with only the forward's scratch.
        var strategy = new WideRows<double>(c2, forwardOnly: true);
        Assert.That(strategy.ScratchLength, Is.EqualTo(WideConv.ForwardScratchLength<double>(c2)).And.LessThan(WideConv.ScratchLength<double>(c2)));
        var direct = new double[2 * 64 * 28 * 28];
        using (var wr = w.Read())
        using (var filters = new ConvFilters<double>(wr.Memory, wr.Offset, c2, transposed: false))
        {
            strategy.Forward(x, filters, b.ToArray(), direct, 0, 2, new double[strategy.ScratchLength]);
        }

        Assert.That(wide.Y, Is.EqualTo(direct), "y from the forward-only wide rows");
        Assert.That(() => strategy.WeightGradient(x, direct, 0, new double[64 * 288], 0, 1, new double[strategy.ScratchLength]), Throws.InvalidOperationException);

        // A depthwise layer (one filter a group) and a 1×1 input keep their paths.
        var depthwise = Geometry(2, 32, 28, 28, 32, 3, padding: 1, groups: 32);
        Assert.That(WideConv.AppliesToForward<double>(depthwise), Is.False);
        var tiny = Geometry(2, 64, 1, 1, 64, 1);
        Assert.That(WideConv.AppliesToForward<double>(tiny), Is.False);

        ConvPlan.WideForwardDisabled = true;
        try
        {
            Assert.That(ConvPlan.Choose(c2, input, forwardOnly: true), Is.TypeOf<PackedColumns<double>>());
            var columns = Run();
            Assert.That(wide.Y, Is.EqualTo(columns.Y).Within(1e-10), "y");
            Assert.That(wide.Dx, Is.EqualTo(columns.Dx), "dx: the same path either way");
            Assert.That(wide.Dw, Is.EqualTo(columns.Dw), "dw");
            Assert.That(wide.Db, Is.EqualTo(columns.Db), "db");
        }
        finally
        {
            ConvPlan.WideForwardDisabled = false;
        }
    }

    [Test]
    public void Winograd_WithGroupsAndUnequalChannels_GivesTheColumnPathsValuesAndGradients() =>
        // 128 → 256 channels in 2 groups: 64 input and 128 output channels a group, so the forward filters
        // are [128, 64] per group and position and the adjoint's (dX) are [64, 128]; a square 64 → 64 layer
        // cannot tell the two apart, nor group 0 from group 1 (mutation testing found both untested).
        AgreesWithTheColumnPath<WinogradStrategy<double>>([2, 128, 6, 7], 256, groups: 2, wideOff: true);

    [Test]
    public void WideRows_WithSixteenFiltersAGroup_GivesTheColumnPathsValuesAndGradients() =>
        // 16 filters a group fill a vector row (LeNet's 6 do not): wide rows with groups against the column path.
        AgreesWithTheColumnPath<WideRows<double>>([8, 4, 9, 10], 32, groups: 2, wideOff: false);

    /// <summary>
    /// y, dx, dw and db of a 3×3 "same" convolution on <typeparamref name="TStrategy"/> equal those of the column
    /// path (wide rows and Winograd switched off) within 1e-10.
    /// </summary>
    private static void AgreesWithTheColumnPath<TStrategy>(int[] xShape, int filters, int groups, bool wideOff)
    {
        var geometry = Geometry(xShape[0], xShape[1], xShape[2], xShape[3], filters, 3, padding: 1, groups: groups);
        var generator = new Generator(20);
        var x = Tensor.Randn<double>(xShape, generator);
        var w = Tensor.Randn<double>([filters, xShape[1] / groups, 3, 3], generator);
        var b = Tensor.Randn<double>([filters], generator);
        var r = Tensor.Randn<double>([xShape[0], filters, xShape[2], xShape[3]], generator);

        (double[] Y, double[] Dx, double[] Dw, double[] Db) Run()
        {
            var (xs, ws, bs) = (x.Detach(), w.Detach(), b.Detach());
            xs.RequiresGrad = ws.RequiresGrad = bs.RequiresGrad = true;
            var y = xs.Conv2d(ws, bs, padding: 1, groups: groups);
            (y * r).Sum().Backward();
            return (y.ToArray(), xs.Grad!.ToArray(), ws.Grad!.ToArray(), bs.Grad!.ToArray());
        }

        var path = default((double[] Y, double[] Dx, double[] Dw, double[] Db));
        var columns = path;
        WithSwitches(wideOff, winogradOff: false, () =>
        {
            Assert.That(ConvPlan.Choose<double>(geometry, null), Is.TypeOf<TStrategy>());
            path = Run();
        });
        WithSwitches(wideOff: true, winogradOff: true, () =>
        {
            Assert.That(ConvPlan.Choose<double>(geometry, null), Is.Not.TypeOf<TStrategy>());
            columns = Run();
        });

        Assert.That(path.Y, Is.EqualTo(columns.Y).Within(1e-10), "y");
        Assert.That(path.Dx, Is.EqualTo(columns.Dx).Within(1e-10), "dx");
        Assert.That(path.Dw, Is.EqualTo(columns.Dw).Within(1e-10), "dw");
        Assert.That(path.Db, Is.EqualTo(columns.Db).Within(1e-10), "db");
    }

    [Test]
    public void StrideTwo_TakesPhaseColumns_ElsePackedColumns()
    {
        // c4: 64 → 128, 3×3 at stride 2 on 56×56: neither wide rows nor Winograd; split into its 4 stride
        // phases of 29 × 29 and computed 29 wide, one image per run.
        var c4 = Geometry(2, 64, 56, 56, 128, 3, stride: 2, padding: 1);
        var plan = Plan(c4);
        Assert.That(plan, Is.TypeOf<PhaseColumns<float>>());
        Assert.That(ConvPlan.Choose<double>(c4, null), Is.TypeOf<PhaseColumns<double>>());
        Assert.That(plan.Batch, Is.EqualTo(1));
        var shape = new PhasePlanes.Shape(c4);
        Assert.That((shape.Hq, shape.Wq, shape.Phases, shape.Wide), Is.EqualTo((29, 29, 4, 28 * 29)));
        Assert.That(plan.ScratchLength, Is.EqualTo(shape.Length + c4.Fg * shape.Wide + Gemm.LineElements<float>() + c4.K * ConvColumns.BlockWidth(c4 with { OW = 29 })));

        // Few input channels stay on the shallow kernel; the switch sends the rest to packed columns.
        Assert.That(Plan(Geometry(2, 3, 56, 56, 16, 3, stride: 2, padding: 1)), Is.TypeOf<ShallowColumns<float>>());
        PhasePlanes.Disabled = true;
        try
        {
            var packed = Plan(c4);
            Assert.That(packed, Is.TypeOf<PackedColumns<float>>());
            Assert.That(packed.ScratchLength, Is.EqualTo(ConvColumns.BlockScratch<float>(c4)));
        }
        finally
        {
            PhasePlanes.Disabled = false;
        }
    }

    [Test]
    public void ScratchLength_CoversEveryPathTheStrategyRuns()
    {
        // Wide rows' regions; Winograd's transforms or the column path's wide buffers for dW; a direct
        // strategy's block of columns or its dX strategy's scratch for runs of one image.
        var lenet = Geometry(64, 6, 14, 14, 16, 5);
        Assert.That(Plan(lenet).ScratchLength, Is.EqualTo(Math.Max(WideConv.ScratchLength<float>(lenet), ConvColumns.BlockScratch<float>(lenet))));
        var small = Geometry(7, 64, 8, 8, 64, 3, padding: 1);
        WithSwitches(wideOff: true, winogradOff: false, () =>
        {
            var winograd = Math.Max(Winograd.ScratchLength<float>(Winograd.Shape.Forward(small)), Winograd.ScratchLength<float>(Winograd.Shape.Adjoint(small)));
            Assert.That(Plan(small).ScratchLength, Is.EqualTo(Math.Max((2 * small.K + small.Fg) * 3 * small.P, winograd)));
        });

        var oneByOne = Geometry(2, 8, 6, 6, 16, 1);
        Assert.That(Plan(oneByOne).ScratchLength, Is.EqualTo(Math.Max(WideConv.ScratchLength<float>(oneByOne), ConvColumns.BlockScratch<float>(oneByOne))));
        var large = Geometry(2, 64, 12, 12, 40, 1);
        WithSwitches(wideOff: true, winogradOff: false, () =>
        {
            // Packed columns would batch these images (P = 144), but a direct strategy's runs are one image.
            Assert.That(ConvPlan.Choose<float>(large, null).Batch, Is.GreaterThan(1));
            Assert.That(Plan(large).ScratchLength, Is.EqualTo(ConvColumns.BlockScratch<float>(large)));
        });
    }

    /// <summary>The strategy of a float pass that reads a contiguous input of the geometry.</summary>
    private static ConvStrategy<float> Plan(ConvGeometry g) => ConvPlan.Choose(g, Tensor.Zeros<float>(g.N, g.C, g.H, g.W));

    /// <summary>The geometry Conv2d's checks make for a square kernel, stride, padding and dilation.</summary>
    private static ConvGeometry Geometry(int n, int c, int h, int w, int f, int k, int stride = 1, int padding = 0, int dilation = 1, int groups = 1)
    {
        var oh = Window.OutputSize(h + 2 * padding, k, stride, dilation);
        var ow = Window.OutputSize(w + 2 * padding, k, stride, dilation);
        return new ConvGeometry(n, c, h, w, f, groups, k, k, new Size2(stride, stride), new Size2(dilation, dilation), padding, padding, padding, padding, oh, ow);
    }

    private static void WithSwitches(bool wideOff, bool winogradOff, Action check)
    {
        WideConv.Disabled = wideOff;
        Winograd.Disabled = winogradOff;
        try
        {
            check();
        }
        finally
        {
            WideConv.Disabled = false;
            Winograd.Disabled = false;
        }
    }
}
