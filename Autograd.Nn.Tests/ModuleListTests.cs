using Autograd.Optim;

namespace Autograd.Nn.Tests;

public class ModuleListTests
{
    /// <summary>A transformer block's shape of registration: attn.c_attn, attn.c_proj under "attn", then ln and mlp.</summary>
    private sealed class Block : Module<double>
    {
        public Block(Generator g)
        {
            Attn = RegisterModule("attn", new Sequential<double>(("c_attn", new Linear<double>(4, 4, bias: false, generator: g))));
            Ln = RegisterModule("ln_2", new LayerNorm<double>(4, bias: false));
        }

        public Sequential<double> Attn { get; }

        public LayerNorm<double> Ln { get; }

        protected override Tensor<double> ForwardCore(Tensor<double> input) => input + Attn.Forward(Ln.Forward(input));
    }

    private sealed class Gpt : Module<double>
    {
        public Gpt(int layers, Generator g)
        {
            H = RegisterModule("h", new ModuleList<double>(Enumerable.Range(0, layers).Select(_ => new Block(g))));
            LnF = RegisterModule("ln_f", new LayerNorm<double>(4, bias: false));
        }

        public ModuleList<double> H { get; }

        public LayerNorm<double> LnF { get; }

        protected override Tensor<double> ForwardCore(Tensor<double> input)
        {
            var x = input;
            foreach (var block in H)
            {
                x = block.Forward(x);
            }

            return LnF.Forward(x);
        }
    }

    [Test]
    public void Parameters_AndStateDict_UsePyTorchsNames()
    {
        var model = new Gpt(2, new Generator(0));
        string[] names = ["h.0.attn.c_attn.weight", "h.0.ln_2.weight", "h.1.attn.c_attn.weight", "h.1.ln_2.weight", "ln_f.weight"];
        Assert.That(model.NamedParameters().Select(p => p.Name), Is.EqualTo(names));
        Assert.That(model.StateDict().Keys, Is.EqualTo(names));
        Assert.That(model.Parameters().Count(), Is.EqualTo(5));
        Assert.That(model.NamedModules().Select(m => m.Name), Does.Contain("h.1.attn.c_attn"));
    }

    [Test]
    public void Indexer_Count_AndEnumeration_FollowTheOrderOfAppending()
    {
        var a = new ReLU<double>();
        var b = new Tanh<double>();
        var c = new Sigmoid<double>();
        var list = new ModuleList<double> { a, b };
        Assert.That(list.Append(c), Is.SameAs(list));
        Assert.That(list.Count, Is.EqualTo(3));
        Assert.That(list[0], Is.SameAs(a));
        Assert.That(list[2], Is.SameAs(c));
        Assert.That(list[-1], Is.SameAs(c), "negative indices count from the end, as in Python");
        Assert.That(list[-3], Is.SameAs(a));
        Assert.That(list.ToList(), Is.EqualTo(new Module<double>[] { a, b, c }));
        Assert.That(list.NamedChildren().Select(m => m.Name), Is.EqualTo(new[] { "0", "1", "2" }));
        Assert.That(list.Extend([new ReLU<double>()]).Count, Is.EqualTo(4));
    }

    [Test]
    public void OutOfRangeIndex_NullModule_AndForward_Throw()
    {
        var list = new ModuleList<double>(new ReLU<double>(), new Tanh<double>());
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => _ = list[2]);
        Assert.That(ex!.Message, Does.Contain("ModuleList: index 2 is out of range for 2 modules"));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = list[-3]);
        Assert.Throws<ArgumentNullException>(() => list.Append(null!));
        var forward = Assert.Throws<InvalidOperationException>(() => list.Forward(Tensor.Ones<double>(2)));
        Assert.That(forward!.Message, Does.StartWith("ModuleList: has no Forward"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => _ = new Sequential<double>(new ReLU<double>())[1])!.Message,
            Does.Contain("Sequential: index 1 is out of range for 1 layers"));
    }

    [Test]
    public void ToString_IsPyTorchsTree()
    {
        var list = new ModuleList<float>(new Linear<float>(2, 3), new GELU<float>());
        Assert.That(list.ToString(), Is.EqualTo(
            "ModuleList(\n" +
            "  (0): Linear(in_features=2, out_features=3, bias=True)\n" +
            "  (1): GELU(approximate='none')\n" +
            ")"));
    }

    [Test]
    public void TheOptimiserTrainsEveryModuleInTheList()
    {
        var model = new Gpt(2, new Generator(1));
        var before = model.Parameters().Select(p => p.ToArray()).ToList();
        var opt = new SGD<double>(model.Parameters(), lr: 0.1);
        var x = Tensor.FromArray([0.5, -1.0, 2.0, 0.25, 1.0, 0.0, -0.5, 3.0], [2, 4]);
        (model.Forward(x) * Tensor.FromArray([1.0, 2.0, 3.0, 4.0])).Sum().Backward();
        opt.Step();
        var after = model.Parameters().Select(p => p.ToArray()).ToList();
        for (var i = 0; i < before.Count; i++)
        {
            Assert.That(after[i], Is.Not.EqualTo(before[i]), model.NamedParameters().ElementAt(i).Name);
        }
    }
}
