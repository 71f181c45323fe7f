using Autograd.Optim;

namespace Autograd.Nn.Tests;

/// <summary>
/// The training pieces of /work/shared/peers/pytorch/gpt_char.py in this API: AdamW with a decayed and a
/// non-decayed parameter group, lr_at (warmup then cosine) as a LambdaLR, N(0, 0.02) initialisation, and
/// clip_grad_norm_, each checked against numbers worked from the recipe's formulas.
/// </summary>
public class GptRecipeTests
{
    private const double Lr = 1e-3, MinLr = 1e-4;
    private const int Warmup = 4, DecayIters = 12;

    /// <summary>gpt_char.py's lr_at divided by lr: warmup (it + 1)/(warmup + 1), then cosine to min_lr, then min_lr.</summary>
    private static double WarmupCosine(int it)
    {
        if (it < Warmup)
        {
            return (it + 1.0) / (Warmup + 1);
        }

        if (it > DecayIters)
        {
            return MinLr / Lr;
        }

        var r = (double)(it - Warmup) / (DecayIters - Warmup);
        return (MinLr + 0.5 * (1 + Math.Cos(Math.PI * r)) * (Lr - MinLr)) / Lr;
    }

    // lr_at(it) for it = 0..13 with lr 1e-3, min_lr 1e-4, warmup 4, decay_iters 12, from gpt_char.py's function in Python.
    private static readonly double[] LrAt =
    [
        0.0002, 0.0004, 0.0006000000000000001, 0.0008, 0.001, 0.000965745789630079, 0.0008681980515339464,
        0.0007222075445642905, 0.00055, 0.0003777924554357096, 0.00023180194846605365, 0.00013425421036992097, 0.0001, 0.0001,
    ];

    private static AdamW<double> RecipeAdamW(IEnumerable<Tensor<double>> parameters)
    {
        var all = parameters.ToList();
        var defaults = new AdamWOptions { Lr = Lr, Beta1 = 0.9, Beta2 = 0.99 };
        return new AdamW<double>(
            [
                new ParamGroup<double>(all.Where(p => p.Rank >= 2), defaults with { WeightDecay = 0.1 }),
                new ParamGroup<double>(all.Where(p => p.Rank < 2), defaults with { WeightDecay = 0.0 }),
            ],
            defaults);
    }

    [Test]
    public void WarmupThenCosine_AsALambdaLR_GivesLrAtEveryStep()
    {
        var opt = RecipeAdamW([Tensor.Zeros<double>(2, 2), Tensor.Zeros<double>(2)]);
        var scheduler = new LambdaLR(opt, WarmupCosine);
        for (var it = 0; it < LrAt.Length; it++)
        {
            // The recipe sets lr_at(it) before step it; the scheduler has it there after `it` calls of Step().
            Assert.That(opt.ParamGroups.Select(g => g.Lr), Is.All.EqualTo(LrAt[it]).Within(1e-15), $"it = {it}");
            scheduler.Step();
        }

        Assert.That(((AdamOptions)opt.ParamGroups[0].Options).WeightDecay, Is.EqualTo(0.1), "the schedule changes lr only");
        Assert.That(((AdamOptions)opt.ParamGroups[1].Options).WeightDecay, Is.EqualTo(0.0));
    }

    [Test]
    public void WarmupThenCosine_AsASequentialLR_OfLinearLRAndCosineAnnealingLR()
    {
        // Warmup: base·(it + 1)/(warmup + 1) is LinearLR from 1/5 to 4/5 over warmup − 1 steps; then the cosine.
        var opt = RecipeAdamW([Tensor.Zeros<double>(2, 2), Tensor.Zeros<double>(2)]);
        var warmup = new LinearLR(opt, startFactor: 1.0 / (Warmup + 1), endFactor: (double)Warmup / (Warmup + 1), totalIters: Warmup - 1);
        var cosine = new CosineAnnealingLR(opt, tMax: DecayIters - Warmup, etaMin: MinLr);
        var scheduler = new SequentialLR(opt, [warmup, cosine], [Warmup]);
        for (var it = 0; it <= DecayIters; it++)
        {
            Assert.That(opt.ParamGroups[0].Lr, Is.EqualTo(LrAt[it]).Within(1e-15), $"it = {it}");
            scheduler.Step();
        }
    }

    [Test]
    public void AdamW_DecaysTheTwoDimensionalGroupOnly()
    {
        double[] w0 = [1.0, -2.0, 0.5, 4.0], b0 = [0.25, -1.0];
        double[] gw = [0.5, -1.0, 2.0, 0.25], gb = [-3.0, 0.5];
        var w = Tensor.FromArray((double[])w0.Clone(), [2, 2], requiresGrad: true);
        var b = Tensor.FromArray((double[])b0.Clone(), requiresGrad: true);
        var opt = RecipeAdamW([w, b]);
        Assert.That(opt.ParamGroups[0].Parameters, Is.EqualTo(new[] { w }));
        Assert.That(opt.ParamGroups[1].Parameters, Is.EqualTo(new[] { b }));
        w.Grad = Tensor.FromArray(gw, [2, 2]);
        b.Grad = Tensor.FromArray(gb);
        opt.Step();

        // First AdamW step: m̂ = g, v̂ = g², so p ← p·(1 − lr·wd) − lr·g / (|g| + eps).
        Assert.That(w.ToArray(), Is.EqualTo(w0.Select((p, i) => p * (1 - Lr * 0.1) - Lr * gw[i] / (Math.Abs(gw[i]) + 1e-8))).Within(1e-15));
        Assert.That(b.ToArray(), Is.EqualTo(b0.Select((p, i) => p - Lr * gb[i] / (Math.Abs(gb[i]) + 1e-8))).Within(1e-15));
        Assert.That(((AdamOptions)opt.ParamGroups[0].Options).Beta2, Is.EqualTo(0.99));
    }

    [Test]
    public void InitNormal_FillsInPlace_FromTheSeed_WithTheGivenMeanAndStd()
    {
        var linear = new Linear<double>(200, 100, bias: false);
        var weight = linear.Weight;
        var storage = weight.Storage;
        var version = storage.Version;
        Assert.That(Init.Normal(weight, 0.0, 0.02, new Generator(5)), Is.SameAs(weight));
        Assert.That(weight.Storage, Is.SameAs(storage), "in place");
        Assert.That(storage.Version, Is.GreaterThan(version));
        Assert.That(weight.IsLeaf && weight.RequiresGrad, "still a parameter");

        var w = weight.ToArray();
        var mean = w.Average();
        var std = Math.Sqrt(w.Average(v => (v - mean) * (v - mean)));
        // 20,000 samples: the mean is within 4·0.02/√20000 ≈ 5.7e-4 of 0, the std within a few per cent of 0.02.
        Assert.That(mean, Is.EqualTo(0.0).Within(5.7e-4));
        Assert.That(std, Is.EqualTo(0.02).Within(0.0006));

        var again = Init.Normal(Tensor.Zeros<double>(200, 100), 0.0, 0.02, new Generator(5)).ToArray();
        Assert.That(again, Is.EqualTo(w), "same seed, same values");
        Assert.That(Init.Normal(Tensor.Zeros<double>(200, 100), 0.0, 0.02, new Generator(6)).ToArray(), Is.Not.EqualTo(w));
        Assert.That(Init.Normal(Tensor.Zeros<double>(1000), 3.0, 0.0).ToArray(), Is.All.EqualTo(3.0), "std 0 gives the mean");
        Assert.That(Assert.Throws<ArgumentException>(() => Init.Normal(Tensor.Zeros<double>(2), 0, -1))!.Message, Does.StartWith("Init.Normal: mean must be finite and std finite and non-negative, got mean 0, std -1"));
    }

    /// <summary>gpt_char.py's model in miniature: tied wte/lm_head, blocks in a ModuleList, bias-free LayerNorms, GELU.</summary>
    private sealed class MiniGpt : Module<double>
    {
        public const int Vocab = 6, Embd = 4, Layers = 2;

        public MiniGpt(Generator g)
        {
            Wte = RegisterModule("wte", new TokenEmbedding(Vocab, Embd));
            H = RegisterModule("h", new ModuleList<double>(Enumerable.Range(0, Layers).Select(_ => new Sequential<double>(
                ("ln", new LayerNorm<double>(Embd, bias: false)),
                ("c_fc", new Linear<double>(Embd, 4 * Embd, bias: false, generator: g)),
                ("gelu", new GELU<double>()),
                ("c_proj", new Linear<double>(4 * Embd, Embd, bias: false, generator: g))))));
            LnF = RegisterModule("ln_f", new LayerNorm<double>(Embd, bias: false));
            LmHead = RegisterModule("lm_head", new Linear<double>(Embd, Vocab, bias: false, generator: g));
            LmHead.Weight = Wte.Weight;
            foreach (var (name, p) in NamedParameters())
            {
                if (p.Rank >= 2)
                {
                    Init.Normal(p, 0.0, name.EndsWith("c_proj.weight", StringComparison.Ordinal) ? 0.02 / Math.Sqrt(2 * Layers) : 0.02, g);
                }
            }
        }

        public TokenEmbedding Wte { get; }

        public ModuleList<double> H { get; }

        public LayerNorm<double> LnF { get; }

        public Linear<double> LmHead { get; }

        protected override Tensor<double> ForwardCore(Tensor<double> input)
        {
            var x = Wte.Forward(input);
            foreach (var block in H)
            {
                x = x + block.Forward(x);
            }

            return LmHead.Forward(LnF.Forward(x));
        }
    }

    [Test]
    public void TheRecipesLoop_TrainsAMiniGpt()
    {
        var model = new MiniGpt(new Generator(1337));
        Assert.That(model.NamedParameters().Select(p => p.Name), Is.EqualTo(new[]
        {
            "wte.weight", "h.0.ln.weight", "h.0.c_fc.weight", "h.0.c_proj.weight", "h.1.ln.weight", "h.1.c_fc.weight", "h.1.c_proj.weight",
            "ln_f.weight",
        }), "lm_head.weight is wte.weight");
        var opt = RecipeAdamW(model.Parameters());
        Assert.That(opt.ParamGroups[0].Parameters, Has.Count.EqualTo(5), "the 2-D weights (the tied one once) are decayed");
        Assert.That(opt.ParamGroups[1].Parameters, Has.Count.EqualTo(3), "the LayerNorm weights are not");
        var scheduler = new LambdaLR(opt, WarmupCosine);
        var criterion = new CrossEntropyLoss<double>();

        // Next-token data: token t is followed by (t + 1) mod vocab.
        double[] tokens = [0, 1, 2, 3, 4, 5, 0, 1];
        var x = Tensor.FromArray(tokens);
        int[] y = [.. tokens.Select(t => ((int)t + 1) % MiniGpt.Vocab)];
        var losses = new List<double>();
        var norms = new List<double>();
        for (var it = 0; it < DecayIters; it++)
        {
            var loss = criterion.Forward(model.Forward(x), y);
            model.ZeroGrad(setToNone: true);
            loss.Backward();
            norms.Add(Utils.ClipGradNorm(model.Parameters(), 1.0));
            opt.Step();
            scheduler.Step();
            losses.Add(loss.Item());
        }

        Assert.That(losses[0], Is.EqualTo(Math.Log(MiniGpt.Vocab)).Within(0.05), "N(0, 0.02) weights start near the uniform guess, ln 6");
        Assert.That(losses[^1], Is.LessThan(losses[0]));
        Assert.That(norms, Is.All.GreaterThan(0));
    }
}
