using Autograd;
using Autograd.Nn;
using Autograd.Testing;

namespace Autograd.Nn.Tests;

/// <summary>
/// BatchNorm1d, Conv1d, GroupNorm, Dropout2d, Upsample, Identity, ModuleDict and Summary: PyTorch's names, state
/// dicts and printing, values against PyTorch, parameter gradients, errors.
/// </summary>
public class NewLayerTests
{
    /// <summary>sin(a·i), i = 0, 1, … row-major: the inputs the PyTorch reference script used (Autograd.Tests/Ops/PyTorchReference.cs).</summary>
    private static Tensor<double> Seq(double a, params int[] shape) =>
        Tensor.FromArray(Enumerable.Range(0, shape.Aggregate(1, (p, d) => p * d)).Select(i => Math.Sin(i * a)).ToArray(), shape);

    private static void AssertParameterGradients(Module<double> module, Tensor<double> input)
    {
        var result = GradCheck.Check(module, input);
        Assert.That(result.Passed, Is.True, result.ToString());
    }

    [Test]
    public void BatchNorm1d_HasPyTorchsKeys_MatchesPyTorch_AndCountsBatches()
    {
        var bn = new BatchNorm1d<double>(3);
        Assert.That(bn.StateDict().Keys, Is.EqualTo(new[] { "weight", "bias", "running_mean", "running_var", "num_batches_tracked" }));
        Assert.That(bn.NamedParameters().Select(p => p.Name), Is.EqualTo(new[] { "weight", "bias" }));
        Assert.That(bn.ToString(), Is.EqualTo("BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"));

        // PyTorch 1.13, nn.BatchNorm1d(3).double() on seq(1.1, [4, 3]) in training mode (see PyTorchReference.cs).
        var y = bn.Forward(Seq(1.1, 4, 3));
        Assert.That(y.ToArray().Take(3), Is.EqualTo(new[] { 0.273537164949671, 0.9486166108588882, 1.1550837993819685 }).Within(1e-12));
        Assert.That(bn.RunningMean!.ToArray(), Is.EqualTo(new[] { -0.007593505610129784, -0.001805417162544587, 0.005955645165159 }).Within(1e-15));
        Assert.That(bn.RunningVar!.ToArray(), Is.EqualTo(new[] { 0.9102738762770954, 1.0224983374949028, 0.9560525555721548 }).Within(1e-15));
        Assert.That(bn.NumBatchesTracked!.Item(), Is.EqualTo(1.0));
        Assert.That(bn.NumBatchesTracked.Shape, Is.Empty, "a scalar, as PyTorch's");

        // [N, C, L] goes through the same module; evaluation counts nothing and moves nothing.
        bn.Forward(Seq(1.1, 2, 3, 5));
        Assert.That(bn.NumBatchesTracked.Item(), Is.EqualTo(2.0));
        bn.Eval();
        var mean = bn.RunningMean.ToArray();
        bn.Forward(Seq(0.3, 2, 3, 5));
        Assert.That(bn.RunningMean.ToArray(), Is.EqualTo(mean));
        Assert.That(bn.NumBatchesTracked.Item(), Is.EqualTo(2.0));

        var e = Assert.Throws<ArgumentException>(() => bn.Forward(Tensor.Zeros<double>(2, 3, 4, 4)));
        Assert.That(e!.Message, Does.Contain("BatchNorm1d").And.Contain("[2, 3, 4, 4]"));
        Assert.Throws<ArgumentException>(() => new BatchNorm1d<double>(0));
        Assert.Throws<ArgumentException>(() => new BatchNorm1d<double>(3, momentum: 1.5));
    }

    [Test]
    public void BatchNorm_MomentumNull_IsTheCumulativeAverage_AsPyTorch()
    {
        // PyTorch 1.13: nn.BatchNorm1d(3, momentum=None).double(), then batches seq(1.1, [4, 3]) and seq(0.4, [4, 3]).
        var bn = new BatchNorm1d<double>(3, momentum: null);
        bn.Forward(Seq(1.1, 4, 3));
        bn.Forward(Seq(0.4, 4, 3));
        Assert.That(bn.RunningMean!.ToArray(), Is.EqualTo(new[] { 0.10765519985229165, 0.1118701142120436, 0.10686288837680855 }).Within(1e-15));
        Assert.That(bn.RunningVar!.ToArray(), Is.EqualTo(new[] { 0.2482820558312223, 0.8794755180231345, 0.6394799271981948 }).Within(1e-15));
        Assert.That(bn.ToString(), Does.Contain("momentum=None"));
        Assert.That(new BatchNorm2d<float>(4, trackRunningStats: false).StateDict().Keys, Is.EqualTo(new[] { "weight", "bias" }));
    }

    [Test]
    public void NewLayers_ParameterGradients_MatchFiniteDifferences()
    {
        var g = new Generator(21);
        var bn = new BatchNorm1d<double>(3);
        using (Tensor.NoGrad())
        {
            bn.Weight!.CopyFrom(Tensor.FromArray(new[] { 0.5, 1.5, -1.0 }));
        }

        AssertParameterGradients(bn, Tensor.Randn<double>([4, 3], g));
        AssertParameterGradients(bn, Tensor.Randn<double>([2, 3, 3], g));
        AssertParameterGradients(new Conv1d<double>(4, 6, 3, stride: 2, padding: 1, groups: 2, generator: g), Tensor.Randn<double>([2, 4, 7], g));
        var gn = new GroupNorm<double>(2, 4);
        using (Tensor.NoGrad())
        {
            gn.Weight!.CopyFrom(Tensor.Randn<double>([4], g));
            gn.Bias!.CopyFrom(Tensor.Randn<double>([4], g));
        }

        AssertParameterGradients(gn, Tensor.Randn<double>([2, 4, 3], g));
    }

    [Test]
    public void Conv1d_InitialisesAsPyTorch_PrintsAsPyTorch_AndIsTheFunctionalOp()
    {
        var conv = new Conv1d<double>(3, 4, 3, stride: 2, padding: 1, generator: new Generator(1));
        Assert.That(conv.StateDict().Keys, Is.EqualTo(new[] { "weight", "bias" }));
        Assert.That(conv.Weight.Shape, Is.EqualTo(new[] { 4, 3, 3 }));
        var bound = 1 / Math.Sqrt(9);   // U(±1/√fan_in), fan_in = 3·3
        Assert.That(conv.Weight.ToArray().Concat(conv.Bias!.ToArray()).All(v => Math.Abs(v) <= bound));
        Assert.That(conv.ToString(), Is.EqualTo("Conv1d(3, 4, kernel_size=(3,), stride=(2,), padding=(1,))"));
        Assert.That(new Conv1d<float>(3, 4, 3, padding: "same", bias: false).ToString(), Is.EqualTo("Conv1d(3, 4, kernel_size=(3,), stride=(1,), padding=same, bias=False)"));

        var x = Seq(0.8, 2, 3, 7);
        Assert.That(conv.Forward(x).ToArray(), Is.EqualTo(x.Conv1d(conv.Weight, conv.Bias, 2, 1).ToArray()));
        Assert.That(conv.Forward(x).Shape, Is.EqualTo(new[] { 2, 4, 4 }));
        Assert.Throws<ArgumentException>(() => new Conv1d<double>(3, 4, 3, groups: 2));
        Assert.Throws<ArgumentException>(() => new Conv1d<double>(3, 4, 0));
    }

    [Test]
    public void GroupNorm_HasPyTorchsKeys_AndChecksChannels()
    {
        var gn = new GroupNorm<double>(2, 4);
        Assert.That(gn.StateDict().Keys, Is.EqualTo(new[] { "weight", "bias" }));
        Assert.That(gn.ToString(), Is.EqualTo("GroupNorm(2, 4, eps=1e-05, affine=True)"));
        Assert.That(new GroupNorm<double>(2, 4, affine: false).StateDict().Keys, Is.Empty);
        var x = Seq(0.9, 2, 4, 3);
        Assert.That(gn.Forward(x).ToArray(), Is.EqualTo(x.GroupNorm(2).ToArray()));

        // The same in evaluation, and for any batch size: no running statistics.
        gn.Eval();
        Assert.That(gn.Forward(x[0..1]).ToArray(), Is.EqualTo(x.GroupNorm(2).ToArray()[..12]).Within(1e-15));

        var e = Assert.Throws<ArgumentException>(() => gn.Forward(Tensor.Zeros<double>(2, 6, 3)));
        Assert.That(e!.Message, Does.Contain("GroupNorm").And.Contain("[2, 6, 3]").And.Contain("4"));
        e = Assert.Throws<ArgumentException>(() => new GroupNorm<double>(3, 4));
        Assert.That(e!.Message, Does.Contain("num_groups 3").And.Contain("num_channels 4"));
    }

    [Test]
    public void Dropout2d_DropsChannelsInTraining_IsTheIdentityInEval()
    {
        var drop = new Dropout2d<double>(0.5, new Generator(3));
        Assert.That(drop.ToString(), Is.EqualTo("Dropout2d(p=0.5, inplace=False)"));
        var x = Tensor.Ones<double>(4, 16, 2, 2);
        var y = drop.Forward(x).Reshape(64, 4).ToArray();
        Assert.That(Enumerable.Range(0, 64).All(c => y[(c * 4)..(c * 4 + 4)].Distinct().Count() == 1));
        Assert.That(y.Distinct().Order(), Is.EqualTo(new[] { 0.0, 2.0 }));
        drop.Eval();
        Assert.That(ReferenceEquals(drop.Forward(x), x));
        Assert.Throws<ArgumentException>(() => new Dropout2d<double>(1.5));
    }

    [Test]
    public void Upsample_IsInterpolate_AndPrintsAsPyTorch()
    {
        var up = new Upsample<double>(scaleFactor: 2, mode: "bilinear");
        Assert.That(up.ToString(), Is.EqualTo("Upsample(scale_factor=2.0, mode=bilinear)"));
        Assert.That(new Upsample<double>([4, 5]).ToString(), Is.EqualTo("Upsample(size=(4, 5), mode=nearest)"));
        Assert.That(up.StateDict(), Is.Empty);
        var x = Seq(0.7, 1, 2, 3, 4);
        Assert.That(up.Forward(x).ToArray(), Is.EqualTo(x.Interpolate(2.0, "bilinear").ToArray()));
        Assert.That(up.Forward(x).Shape, Is.EqualTo(new[] { 1, 2, 6, 8 }));
        Assert.That(new Upsample<double>([5, 7]).Forward(x).Shape, Is.EqualTo(new[] { 1, 2, 5, 7 }));
        Assert.Throws<ArgumentException>(() => new Upsample<double>());
        Assert.Throws<ArgumentException>(() => new Upsample<double>(2, "bicubic"));
        Assert.Throws<ArgumentException>(() => new Upsample<double>(2, "nearest", alignCorners: true));
    }

    [Test]
    public void Identity_ReturnsItsInput()
    {
        var id = new Identity<float>();
        var x = Tensor.Randn<float>([2, 3], new Generator(1));
        Assert.That(ReferenceEquals(id.Forward(x), x));
        Assert.That(id.ToString(), Is.EqualTo("Identity()"));
        Assert.That(id.StateDict(), Is.Empty);
    }

    private sealed class TwoHeads : Module<double>
    {
        public TwoHeads()
        {
            Trunk = RegisterModule("trunk", new Linear<double>(4, 3, generator: new Generator(1)));
            Heads = RegisterModule("heads", new ModuleDict<double> { { "cls", new Linear<double>(3, 2, generator: new Generator(2)) }, { "box", new Linear<double>(3, 4, bias: false, generator: new Generator(3)) } });
        }

        public Linear<double> Trunk { get; }

        public ModuleDict<double> Heads { get; }

        protected override Tensor<double> ForwardCore(Tensor<double> input) => Heads["cls"].Forward(Trunk.Forward(input).Relu());
    }

    [Test]
    public void ModuleDict_RegistersUnderItsKeys_ReplacesInPlace_AndChecksKeys()
    {
        var model = new TwoHeads();
        Assert.That(model.StateDict().Keys, Is.EqualTo(new[] { "trunk.weight", "trunk.bias", "heads.cls.weight", "heads.cls.bias", "heads.box.weight" }));
        Assert.That(model.Heads.Keys, Is.EqualTo(new[] { "cls", "box" }));
        Assert.That(model.Heads.Count, Is.EqualTo(2));
        Assert.That(model.Heads.ContainsKey("box") && !model.Heads.ContainsKey("seg"));
        Assert.That(model.ToString(), Does.Contain("(heads): ModuleDict(\n    (cls): Linear(in_features=3, out_features=2, bias=True)"));

        // Setting an existing key replaces the module where it was; a new key appends.
        var cls = new Linear<double>(3, 5, generator: new Generator(4));
        model.Heads["cls"] = cls;
        model.Heads["seg"] = new Identity<double>();
        Assert.That(model.Heads.Keys, Is.EqualTo(new[] { "cls", "box", "seg" }));
        Assert.That(ReferenceEquals(model.Heads["cls"], cls));
        Assert.That(model.Parameters().Contains(cls.Weight) && model.Forward(Tensor.Zeros<double>(1, 4)).Shape[1] == 5);
        Assert.That(new ModuleDict<double>([("a", new Identity<double>()), ("b", new Identity<double>())]).Keys, Is.EqualTo(new[] { "a", "b" }));

        Assert.Throws<ArgumentException>(() => model.Heads.Add("box", new Identity<double>()));
        Assert.Throws<ArgumentException>(() => model.Heads.Add("a.b", new Identity<double>()));
        Assert.Throws<ArgumentException>(() => model.Heads.Add("", new Identity<double>()));
        var missing = Assert.Throws<KeyNotFoundException>(() => _ = model.Heads["nope"]);
        Assert.That(missing!.Message, Does.Contain("nope").And.Contain("'cls'"));
        Assert.Throws<InvalidOperationException>(() => model.Heads.Forward(Tensor.Zeros<double>(1, 3)));
    }

    private sealed class Net : Module<float>
    {
        public Net()
        {
            Features = RegisterModule("features", new Sequential<float>(
                new Conv2d<float>(1, 4, 3, padding: 1), new BatchNorm2d<float>(4), new ReLU<float>(), new Dropout2d<float>(0.5), new MaxPool2d<float>(2)));
            Head = RegisterModule("head", new Sequential<float>(new Flatten<float>(), new Linear<float>(4 * 4 * 4, 10)));
            Unused = RegisterModule("unused", new Linear<float>(2, 2));
        }

        public Sequential<float> Features { get; }

        public Sequential<float> Head { get; }

        public Linear<float> Unused { get; }

        protected override Tensor<float> ForwardCore(Tensor<float> input) => Head.Forward(Features.Forward(input));
    }

    [Test]
    public void Summary_ListsOutputShapesAndParameterCounts_AndLeavesTheModelAsItWas()
    {
        var net = new Net();
        net.Unused.Bias!.RequiresGrad = false;
        var bn = (BatchNorm2d<float>)net.Features[1];
        var summary = net.Summary(Tensor.Randn<float>([2, 1, 8, 8], new Generator(1)));

        var rows = summary.Rows.Select(r => (r.Name, r.Type, r.Depth, Shape: r.OutputShape is null ? "--" : string.Join("x", r.OutputShape), r.Params)).ToList();
        Assert.That(rows, Is.EqualTo(new[]
        {
            ("", "Net", 0, "2x10", 0L),
            ("features", "Sequential", 1, "2x4x4x4", 0L),
            ("features.0", "Conv2d", 2, "2x4x8x8", 4 * 9 + 4L),
            ("features.1", "BatchNorm2d", 2, "2x4x8x8", 8L),
            ("features.2", "ReLU", 2, "2x4x8x8", 0L),
            ("features.3", "Dropout2d", 2, "2x4x8x8", 0L),
            ("features.4", "MaxPool2d", 2, "2x4x4x4", 0L),
            ("head", "Sequential", 1, "2x10", 0L),
            ("head.0", "Flatten", 2, "2x64", 0L),
            ("head.1", "Linear", 2, "2x10", 650L),
            ("unused", "Linear", 1, "--", 6L),
        }));
        Assert.That(summary.TotalParams, Is.EqualTo(40 + 8 + 650 + 6));
        Assert.That(summary.TrainableParams, Is.EqualTo(40 + 8 + 650 + 4));
        Assert.That(summary.NonTrainableParams, Is.EqualTo(2));

        // Evaluation mode for the forward: no running statistic moved, no batch counted; the modes are restored.
        Assert.That(bn.RunningMean!.ToArray(), Is.All.EqualTo(0f));
        Assert.That(bn.NumBatchesTracked!.Item(), Is.EqualTo(0f));
        Assert.That(net.NamedModules().All(m => m.Module.Training));
        net.Head.Eval();
        net.Summary([1, 1, 8, 8]);
        Assert.That(net.Features.Training && !net.Head.Training && !net.Head[1].Training);

        var table = summary.ToString();
        TestContext.Out.WriteLine(table);
        Assert.That(table, Does.Contain("Layer (type (name):depth-idx)").And.Contain("Output Shape").And.Contain("Param #"));
        Assert.That(table, Does.Contain("├─Sequential (features): 1-1").And.Contain("│    └─Conv2d (0): 2-1").And.Contain("└─Linear (1): 2-2"));
        Assert.That(table, Does.Contain("Total params: 704").And.Contain("Trainable params: 702").And.Contain("Non-trainable params: 2"));
        Assert.That(table.Split('\n').Single(l => l.Contains("Linear (1)")), Does.Contain("[2, 10]").And.Contain("650"));

        // depth limits the rows, not the totals.
        var shallow = net.Summary([1, 1, 8, 8], depth: 1);
        Assert.That(shallow.Rows.Select(r => r.Name), Is.EqualTo(new[] { "", "features", "head", "unused" }));
        Assert.That(shallow.TotalParams, Is.EqualTo(704));
        Assert.Throws<ArgumentOutOfRangeException>(() => net.Summary([1, 1, 8, 8], depth: -1));
        var bad = Assert.Throws<ArgumentException>(() => net.Summary([1, 2, 8, 8]));
        Assert.That(bad!.Message, Does.Contain("Conv2d"));
        Assert.That(net.NamedModules().Count(m => m.Module.Training), Is.EqualTo(net.NamedModules().Count() - 3), "restored after a throwing forward too");
    }
}
