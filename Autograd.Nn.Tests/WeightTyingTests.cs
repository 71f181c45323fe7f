using Autograd.Optim;

namespace Autograd.Nn.Tests;

/// <summary>
/// PyTorch's GPT ties the output head to the token embedding (<c>lm_head.weight = wte.weight</c>): one
/// parameter under two names. These tests pin PyTorch's rules for it: Parameters() yields it once, the
/// optimiser updates it once, the state dict writes both names, and loading accepts both.
/// </summary>
public class WeightTyingTests
{
    /// <summary>wte, ln_f, lm_head as in gpt_char.py, with lm_head.Weight = wte.Weight.</summary>
    private sealed class TinyLm : Module<double>
    {
        public TinyLm(bool tie = true)
        {
            Wte = RegisterModule("wte", new TokenEmbedding(5, 3));
            LnF = RegisterModule("ln_f", new LayerNorm<double>(3, bias: false));
            LmHead = RegisterModule("lm_head", new Linear<double>(3, 5, bias: false, generator: new Generator(3)));
            if (tie)
            {
                LmHead.Weight = Wte.Weight;
            }
        }

        public TokenEmbedding Wte { get; }

        public LayerNorm<double> LnF { get; }

        public Linear<double> LmHead { get; }

        protected override Tensor<double> ForwardCore(Tensor<double> input) => LmHead.Forward(LnF.Forward(Wte.Forward(input)));
    }

    private static readonly Tensor<double> Tokens = Tensor.FromArray([0.0, 3.0, 3.0, 1.0]);
    private static readonly int[] Targets = [3, 1, 4, 0];

    private static Tensor<double> Loss(TinyLm model) => model.Forward(Tokens).CrossEntropy(Targets);

    [Test]
    public void TheTiedWeight_IsOneParameter_YieldedOnce_UnderItsFirstName()
    {
        var model = new TinyLm();
        Assert.That(model.LmHead.Weight, Is.SameAs(model.Wte.Weight));
        Assert.That(model.NamedParameters().Select(p => p.Name), Is.EqualTo(new[] { "wte.weight", "ln_f.weight" }), "PyTorch's named_parameters() skips lm_head.weight");
        Assert.That(model.Parameters().Count(p => ReferenceEquals(p, model.Wte.Weight)), Is.EqualTo(1));
        Assert.That(new TinyLm(tie: false).Parameters().Count(), Is.EqualTo(3));
        Assert.That(model.LmHead.NamedParameters().Single().Name, Is.EqualTo("weight"), "the head still has its parameter under its own name");
    }

    [Test]
    public void Backward_AddsBothUsesIntoTheOneGradient()
    {
        var tied = new TinyLm();
        Loss(tied).Backward();

        // The same model untied, with the head's weight a copy of the embedding: the tied gradient is the sum of the two.
        var untied = new TinyLm(tie: false);
        untied.LmHead.Weight = tied.Wte.Weight.Detach().Clone();
        Loss(untied).Backward();
        var sum = untied.Wte.Weight.Grad!.ToArray().Zip(untied.LmHead.Weight.Grad!.ToArray(), (a, b) => a + b);
        Assert.That(tied.Wte.Weight.Grad!.ToArray(), Is.EqualTo(sum).Within(1e-12));
        Assert.That(untied.Wte.Weight.Grad!.ToArray().Any(v => v != 0) && untied.LmHead.Weight.Grad!.ToArray().Any(v => v != 0), "both uses contribute");
    }

    [Test]
    public void TheOptimiser_UpdatesTheTiedWeightOnce()
    {
        var model = new TinyLm();
        var before = model.Wte.Weight.ToArray();
        var sgd = new SGD<double>(model.Parameters(), lr: 0.1);
        Loss(model).Backward();
        var grad = model.Wte.Weight.Grad!.ToArray();
        sgd.Step();
        Assert.That(model.Wte.Weight.ToArray(), Is.EqualTo(before.Zip(grad, (p, g) => p - 0.1 * g)).Within(1e-15), "one step of −lr·g, not two");

        var other = new TinyLm();
        var adamW = new AdamW<double>(other.Parameters());
        Assert.That(adamW.ParamGroups[0].Parameters, Has.Count.EqualTo(2));
        Loss(other).Backward();
        adamW.Step();
        Assert.That(adamW.GetState(other.Wte.Weight)!.Step, Is.EqualTo(1), "Adam's step count: one update per Step()");
    }

    [Test]
    public void StateDict_WritesBothNames_SharingTheOneStorage()
    {
        var model = new TinyLm();
        var state = model.StateDict();
        Assert.That(state.Keys, Is.EqualTo(new[] { "wte.weight", "ln_f.weight", "lm_head.weight" }));
        Assert.That(state["lm_head.weight"].Storage, Is.SameAs(model.Wte.Weight.Storage));
        Assert.That(state["wte.weight"].Storage, Is.SameAs(model.Wte.Weight.Storage));
    }

    [Test]
    public void LoadStateDict_AcceptsBothNames_AndKeepsTheTie()
    {
        var source = new TinyLm();
        using (Tensor.NoGrad())
        {
            source.Wte.Weight.MulInPlace(2.0);
        }

        var target = new TinyLm();
        var result = target.LoadStateDict(source.StateDict());
        Assert.That(result.MissingKeys, Is.Empty);
        Assert.That(result.UnexpectedKeys, Is.Empty);
        Assert.That(target.Wte.Weight.ToArray(), Is.EqualTo(source.Wte.Weight.ToArray()));
        Assert.That(target.LmHead.Weight, Is.SameAs(target.Wte.Weight), "loading copies in place; the tie stays");

        // As PyTorch: strict loading wants both names, and when they disagree the later one (lm_head) is what stays.
        var state = source.StateDict();
        state.Remove("lm_head.weight");
        Assert.That(Assert.Throws<StateDictException>(() => target.LoadStateDict(state))!.Errors, Is.EqualTo(new[] { "missing key 'lm_head.weight'" }));
        state["lm_head.weight"] = Tensor.Full([5, 3], 7.0);
        target.LoadStateDict(state);
        Assert.That(target.Wte.Weight.ToArray(), Is.All.EqualTo(7.0));
    }

    [Test]
    public void SafeTensors_RoundTripATiedModel()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tied-{Guid.NewGuid():N}.safetensors");
        try
        {
            var source = new TinyLm();
            source.SaveSafeTensors(path);
            Assert.That(SafeTensors.Load<double>(path).Keys, Is.EquivalentTo(new[] { "wte.weight", "ln_f.weight", "lm_head.weight" }));
            var target = new TinyLm(tie: false);
            target.LoadSafeTensors(path);
            Assert.That(target.LmHead.Weight.ToArray(), Is.EqualTo(source.Wte.Weight.ToArray()));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void ZeroGrad_ClearsTheTiedGradient()
    {
        var model = new TinyLm();
        Loss(model).Backward();
        model.ZeroGrad(setToNone: true);
        Assert.That(model.LmHead.Weight.Grad, Is.Null);
    }

    [Test]
    public void AssigningAWeight_ChecksShapeLeafAndName()
    {
        var head = new Linear<double>(3, 5, bias: false);
        var ex = Assert.Throws<ArgumentException>(() => head.Weight = Tensor.Zeros<double>(3, 5));
        Assert.That(ex!.Message, Does.StartWith("Linear: weight must have shape [out_features, in_features] = [5, 3], got [3, 5]"));
        var leaf = Tensor.Ones<double>(5, 3);
        leaf.RequiresGrad = true;
        Assert.That(Assert.Throws<ArgumentException>(() => head.Weight = leaf * 2.0)!.Message, Does.StartWith("ReplaceParameter: 'weight' is the result of 'Mul', not a leaf"));
        Assert.Throws<ArgumentNullException>(() => head.Weight = null!);
        Assert.That(Assert.Throws<ArgumentException>(() => new TokenEmbedding(2, 2).ReplaceUnknown())!.Message, Does.StartWith("ReplaceParameter: TokenEmbedding has no parameter 'bias' (its parameters: 'weight')"));

        var fresh = Tensor.Zeros<double>(5, 3);
        head.Weight = fresh;
        Assert.That(fresh.RequiresGrad, Is.True, "an assigned tensor becomes a parameter");
        Assert.That(head.Parameters().Single(), Is.SameAs(fresh));
    }

    [Test]
    public void TwoLinearLayers_TiedThroughThePublicProperty()
    {
        var a = new Linear<double>(4, 4, generator: new Generator(1));
        var b = new Linear<double>(4, 4, generator: new Generator(2));
        var model = new Sequential<double>(a, new Tanh<double>(), b);
        b.Weight = a.Weight;
        Assert.That(model.NamedParameters().Select(p => p.Name), Is.EqualTo(new[] { "0.weight", "0.bias", "2.bias" }));
        Assert.That(model.StateDict().Keys, Is.EqualTo(new[] { "0.weight", "0.bias", "2.weight", "2.bias" }));
    }
}
