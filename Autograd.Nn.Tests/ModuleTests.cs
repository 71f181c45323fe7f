using Autograd.Nn;
using Autograd.Optim;

namespace Autograd.Nn.Tests;

public class ModuleTests
{
    /// <summary>A module with a child list, a buffer and a shared parameter, registered the documented way.</summary>
    private sealed class Net : Module<double>
    {
        public Net(Generator g)
        {
            Features = RegisterModule("features", new Sequential<double>(new Linear<double>(3, 4, generator: g), new ReLU<double>(), new Linear<double>(4, 4, generator: g)));
            Head = RegisterModule("head", new Linear<double>(4, 2, generator: g));
            Scale = RegisterParameter("scale", Tensor.Ones<double>(2))!;
            Count = RegisterBuffer("count", Tensor.Zeros<double>(1))!;
            Tied = RegisterModule("tied", Head);
        }

        public Sequential<double> Features { get; }

        public Linear<double> Head { get; }

        public Linear<double> Tied { get; }

        public Tensor<double> Scale { get; }

        public Tensor<double> Count { get; }

        protected override Tensor<double> ForwardCore(Tensor<double> input) => Head.Forward(Features.Forward(input)) * Scale;
    }

    [Test]
    public void SequentialAdd_IsAppend_AndMakesCollectionInitializersWork()
    {
        var g = new Generator(1);
        var net = new Sequential<double> { new Linear<double>(3, 4, generator: g), new ReLU<double>() };
        net.Add("head", new Linear<double>(4, 2, generator: g));
        Assert.That(net.Count, Is.EqualTo(3));
        Assert.That(net.NamedParameters().Select(p => p.Name), Is.EqualTo(new[] { "0.weight", "0.bias", "head.weight", "head.bias" }));
        Assert.That(net.Forward(Tensor.Zeros<double>(5, 3)).Shape, Is.EqualTo(new[] { 5, 2 }));
        Assert.Throws<ArgumentNullException>(() => net.Add(null!));
    }

    [Test]
    public void NamedParameters_AreDottedDepthFirstInRegistrationOrder_SharedOnce()
    {
        var net = new Net(new Generator(0));
        Assert.That(net.NamedParameters().Select(p => p.Name), Is.EqualTo(new[]
        {
            "scale", "features.0.weight", "features.0.bias", "features.2.weight", "features.2.bias", "head.weight", "head.bias",
        }));
        Assert.That(net.NamedBuffers().Select(b => b.Name), Is.EqualTo(new[] { "count" }));
        Assert.That(net.NamedModules().Select(m => m.Name), Is.EqualTo(new[] { "", "features", "features.0", "features.1", "features.2", "head" }));
        Assert.That(net.Parameters().All(p => p.RequiresGrad && p.IsLeaf));
    }

    [Test]
    public void Register_RejectsEmptyDottedAndDuplicateNames_AndNonLeaves()
    {
        Assert.That(Assert.Throws<ArgumentException>(() => new BadModule(""))!.Message, Does.Contain("empty"));
        Assert.That(Assert.Throws<ArgumentException>(() => new BadModule("a.b"))!.Message, Does.Contain("contains '.'"));
        Assert.That(Assert.Throws<ArgumentException>(() => new BadModule("w", twice: true))!.Message, Does.Contain("already registered"));
        Assert.That(Assert.Throws<ArgumentException>(() => new BadModule("w", nonLeaf: true))!.Message, Does.Contain("not a leaf"));
    }

    private sealed class BadModule : Module<float>
    {
        public BadModule(string name, bool twice = false, bool nonLeaf = false)
        {
            var w = Tensor.Ones<float>(2);
            w.RequiresGrad = nonLeaf;
            RegisterParameter(name, nonLeaf ? w * 2f : w);
            if (twice)
            {
                RegisterBuffer(name, Tensor.Zeros<float>(1));
            }
        }

        protected override Tensor<float> ForwardCore(Tensor<float> input) => input;
    }

    [Test]
    public void TrainAndEval_SetEveryDescendant()
    {
        var net = new Net(new Generator(0));
        net.Eval();
        Assert.That(net.NamedModules().Select(m => m.Module.Training), Is.All.False);
        net.Train();
        Assert.That(net.NamedModules().Select(m => m.Module.Training), Is.All.True);
    }

    [Test]
    public void ZeroGrad_ZeroesEveryParameterGradient()
    {
        var net = new Net(new Generator(0));
        net.Forward(Tensor.Ones<double>(2, 3)).Sum().Backward();
        Assert.That(net.Parameters().All(p => p.Grad is not null));
        net.ZeroGrad();
        Assert.That(net.Parameters().SelectMany(p => p.Grad!.ToArray()), Is.All.EqualTo(0.0));
    }

    [Test]
    public void ToString_IsPyTorchsTree()
    {
        var model = new Sequential<float>(new Conv2d<float>(1, 6, 5, padding: 2), new ReLU<float>(), new Flatten<float>(), new Linear<float>(10, 2, bias: false));
        Assert.That(model.ToString(), Is.EqualTo(
            "Sequential(\n" +
            "  (0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))\n" +
            "  (1): ReLU()\n" +
            "  (2): Flatten(start_dim=1, end_dim=-1)\n" +
            "  (3): Linear(in_features=10, out_features=2, bias=False)\n" +
            ")"));
    }

    [Test]
    public void StateDict_RoundTrip_CopiesInPlace_AndOptimiserKeepsItsReferences()
    {
        var source = new Net(new Generator(1));
        var target = new Net(new Generator(2));
        var weight = target.Head.Weight;
        var optimizer = new SGD<double>(target.Parameters(), lr: 0.1);
        Assert.That(target.Head.Weight.ToArray(), Is.Not.EqualTo(source.Head.Weight.ToArray()));

        var result = target.LoadStateDict(source.StateDict());

        Assert.That(result.MissingKeys, Is.Empty);
        Assert.That(result.UnexpectedKeys, Is.Empty);
        Assert.That(target.Head.Weight, Is.SameAs(weight));
        foreach (var ((name, a), (_, b)) in source.StateDict().Zip(target.StateDict()))
        {
            Assert.That(b.ToArray(), Is.EqualTo(a.ToArray()), name);
        }

        var x = Tensor.Ones<double>(2, 3);
        Assert.That(target.Forward(x).ToArray(), Is.EqualTo(source.Forward(x).ToArray()));
        target.Forward(x).Sum().Backward();
        optimizer.Step();
        Assert.That(target.Head.Weight.ToArray(), Is.Not.EqualTo(source.Head.Weight.ToArray()), "the optimiser updates the loaded tensors");
    }

    [Test]
    public void StateDict_SharesStorageWithTheModule_AndIncludesBuffers()
    {
        var net = new Net(new Generator(0));
        var state = net.StateDict();
        Assert.That(state.Keys, Is.EqualTo(new[]
        {
            "scale", "count", "features.0.weight", "features.0.bias", "features.2.weight", "features.2.bias",
            "head.weight", "head.bias", "tied.weight", "tied.bias",
        }), "PyTorch's order: own parameters, own buffers, then each child; a shared module under each name");
        Assert.That(state["head.weight"].Storage, Is.SameAs(net.Head.Weight.Storage));
        Assert.That(state["head.weight"].RequiresGrad, Is.False);
    }

    [Test]
    public void LoadStateDict_CollectsEveryProblem_ThrowsOnce_AndLoadsNothing()
    {
        var net = new Net(new Generator(0));
        var before = net.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());
        var state = new Net(new Generator(1)).StateDict();
        state.Remove("head.bias");
        state.Add("extra.weight", Tensor.Zeros<double>(1));
        state["features.0.weight"] = Tensor.Zeros<double>(5, 3);

        var ex = Assert.Throws<StateDictException>(() => net.LoadStateDict(state));

        Assert.That(ex!.Errors, Is.EquivalentTo(new[]
        {
            "missing key 'head.bias'",
            "unexpected key 'extra.weight'",
            "size mismatch for features.0.weight: copying a param with shape [5, 3] from checkpoint, the shape in current model is [4, 3]",
        }));
        Assert.That(ex.Message, Does.Contain("nothing was loaded"));
        foreach (var (name, tensor) in net.StateDict())
        {
            Assert.That(tensor.ToArray(), Is.EqualTo(before[name]), $"{name} changed although the load failed");
        }
    }

    [Test]
    public void LoadStateDict_NotStrict_ReturnsMissingAndUnexpected_ButStillRejectsShapes()
    {
        var net = new Net(new Generator(0));
        var state = new Net(new Generator(1)).StateDict();
        state.Remove("scale");
        state.Add("other", Tensor.Zeros<double>(1));
        var result = net.LoadStateDict(state, strict: false);
        Assert.That(result.MissingKeys, Is.EqualTo(new[] { "scale" }));
        Assert.That(result.UnexpectedKeys, Is.EqualTo(new[] { "other" }));
        state["head.weight"] = Tensor.Zeros<double>(1);
        Assert.Throws<StateDictException>(() => net.LoadStateDict(state, strict: false));
    }
}
