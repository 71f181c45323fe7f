using Autograd.Nn;

namespace Autograd.Example;

/// <summary>The recipe's model sizes (gpt_char.py: n_layer, n_head, n_embd, block).</summary>
public sealed record GptConfig(int Vocab, int Layers = 4, int Heads = 4, int Embd = 128, int Block = 64)
{
    /// <summary>Parameters of the model with the tied head counted once: 128·vocab + 795,776 for the recipe (804,096 at 65 characters).</summary>
    public long ParameterCount => (long)(Vocab + Block) * Embd + Layers * (2L * Embd + 12L * Embd * Embd) + Embd;
}

/// <summary>
/// The GPT of /work/shared/peers/pytorch/gpt_char.py, module for module and name for name: <c>wte</c>, <c>wpe</c>,
/// blocks <c>h.{i}</c> (<c>ln_1</c>, <c>attn.c_attn</c>, <c>attn.c_proj</c>, <c>ln_2</c>, <c>c_fc</c>, <c>c_proj</c>),
/// <c>ln_f</c> and <c>lm_head</c> tied to <c>wte</c>. No biases, no dropout, LayerNorm without bias (eps 1e-5),
/// exact GELU, causal attention through <c>Tensor.ScaledDotProductAttention</c>. Weights of every Linear and
/// Embedding start N(0, 0.02), the residual projections (<c>c_proj.weight</c>) N(0, 0.02/√(2·layers)), drawn from
/// the engine's <see cref="Generator"/> (not PyTorch's stream). Its state dict holds the script's keys, so its
/// safetensors load into the script's model (<c>model.load_state_dict(safetensors.torch.load_file(...))</c>).
/// </summary>
public sealed class CharGpt : Module<float>
{
    private IndexTensor _positions = IndexTensor.FromArray(Array.Empty<int>());

    public CharGpt(GptConfig config, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Embd % config.Heads != 0)
        {
            throw new ArgumentException($"CharGpt: n_embd {config.Embd} is not a multiple of n_head {config.Heads}.", nameof(config));
        }

        Config = config;
        Wte = RegisterModule("wte", new Embedding<float>(config.Vocab, config.Embd, generator: generator));
        Wpe = RegisterModule("wpe", new Embedding<float>(config.Block, config.Embd, generator: generator));
        H = RegisterModule("h", new ModuleList<float>(Enumerable.Range(0, config.Layers).Select(_ => new GptBlock(config, generator))));
        LnF = RegisterModule("ln_f", new LayerNorm<float>(config.Embd, bias: false));
        LmHead = RegisterModule("lm_head", new Linear<float>(config.Embd, config.Vocab, bias: false, generator: generator));
        LmHead.Weight = Wte.Weight;

        // The script: normal_(0, 0.02) on the weight of every Linear and Embedding in modules() order (the tied
        // weight twice, as there), then the residual projections again with 0.02/√(2·layers).
        foreach (var (_, module) in NamedModules())
        {
            var weight = module switch
            {
                Linear<float> linear => linear.Weight,
                Embedding<float> embedding => embedding.Weight,
                _ => null,
            };
            if (weight is not null)
            {
                Init.Normal(weight, 0.0, 0.02, generator);
            }
        }

        foreach (var (name, p) in NamedParameters())
        {
            if (name.EndsWith("c_proj.weight", StringComparison.Ordinal))
            {
                Init.Normal(p, 0.0, 0.02 / Math.Sqrt(2 * config.Layers), generator);
            }
        }
    }

    public GptConfig Config { get; }

    public Embedding<float> Wte { get; }

    public Embedding<float> Wpe { get; }

    public ModuleList<float> H { get; }

    public LayerNorm<float> LnF { get; }

    public Linear<float> LmHead { get; }

    /// <summary>Logits [B, T, vocab] for token ids [B, T], T ≤ block.</summary>
    public Tensor<float> Forward(IndexTensor idx)
    {
        ArgumentNullException.ThrowIfNull(idx);
        if (idx.Rank != 2 || idx.Shape[1] > Config.Block || idx.Shape[1] < 1)
        {
            throw new ArgumentException($"CharGpt: idx must be [B, T] with 1 <= T <= block = {Config.Block}, got {string.Join(", ", idx.Shape)}.", nameof(idx));
        }

        var t = idx.Shape[1];
        if (_positions.Numel != t)
        {
            _positions = IndexTensor.FromArray(Enumerable.Range(0, t).ToArray());
        }

        var x = Wte.Forward(idx) + Wpe.Forward(_positions);
        foreach (var block in H)
        {
            x = block.Forward(x);
        }

        return LmHead.Forward(LnF.Forward(x));
    }

    /// <summary>The script's <c>model(idx, targets)</c>: mean cross-entropy of the logits [B·T, vocab] against targets [B·T].</summary>
    public Tensor<float> Loss(IndexTensor idx, int[] targets) => Forward(idx).View(-1, Config.Vocab).CrossEntropy(targets);

    protected override Tensor<float> ForwardCore(Tensor<float> input) =>
        throw new InvalidOperationException("CharGpt: the input is token ids, Forward(IndexTensor).");
}

/// <summary>One transformer block of the script: x + attn(ln_1(x)), then x + c_proj(gelu(c_fc(ln_2(x)))).</summary>
public sealed class GptBlock : Module<float>
{
    public GptBlock(GptConfig config, Generator generator)
    {
        Ln1 = RegisterModule("ln_1", new LayerNorm<float>(config.Embd, bias: false));
        Attn = RegisterModule("attn", new CausalSelfAttention(config, generator));
        Ln2 = RegisterModule("ln_2", new LayerNorm<float>(config.Embd, bias: false));
        CFc = RegisterModule("c_fc", new Linear<float>(config.Embd, 4 * config.Embd, bias: false, generator: generator));
        CProj = RegisterModule("c_proj", new Linear<float>(4 * config.Embd, config.Embd, bias: false, generator: generator));
    }

    public LayerNorm<float> Ln1 { get; }

    public CausalSelfAttention Attn { get; }

    public LayerNorm<float> Ln2 { get; }

    public Linear<float> CFc { get; }

    public Linear<float> CProj { get; }

    protected override Tensor<float> ForwardCore(Tensor<float> input)
    {
        var x = input + Attn.Forward(Ln1.Forward(input));
        return x + CProj.Forward(CFc.Forward(Ln2.Forward(x)).Gelu());
    }
}

/// <summary>
/// The script's Attention: c_attn projects to q, k, v (split along the channels), heads of n_embd/n_head, causal
/// attention, c_proj. The script's buffer <c>causal</c> (tril(ones(block, block)) as [1, 1, block, block]) is
/// registered too, so the state dict has the script's keys; the forward uses isCausal instead of reading it.
/// </summary>
public sealed class CausalSelfAttention : Module<float>
{
    private readonly int _heads;

    public CausalSelfAttention(GptConfig config, Generator generator)
    {
        _heads = config.Heads;
        CAttn = RegisterModule("c_attn", new Linear<float>(config.Embd, 3 * config.Embd, bias: false, generator: generator));
        CProj = RegisterModule("c_proj", new Linear<float>(config.Embd, config.Embd, bias: false, generator: generator));
        RegisterBuffer("causal", Tensor.Ones<float>(config.Block, config.Block).Tril().View(1, 1, config.Block, config.Block));
    }

    public Linear<float> CAttn { get; }

    public Linear<float> CProj { get; }

    protected override Tensor<float> ForwardCore(Tensor<float> input)
    {
        int b = input.Size(0), t = input.Size(1), c = input.Size(2), hs = c / _heads;
        var qkv = CAttn.Forward(input).Split(c, 2);
        var (q, k, v) = (Heads(qkv[0]), Heads(qkv[1]), Heads(qkv[2]));
        var y = Tensor.ScaledDotProductAttention(q, k, v, isCausal: true);
        return CProj.Forward(y.Transpose(1, 2).Reshape(b, t, c));

        Tensor<float> Heads(Tensor<float> x) => x.View(b, t, _heads, hs).Transpose(1, 2);
    }
}
