using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd.Nn;

/// <summary>
/// Multi-head attention (PyTorch's <c>nn.MultiheadAttention</c>): the query, key and value are projected by
/// <c>in_proj_weight</c> [3·embedDim, embedDim] (and <c>in_proj_bias</c>), split into <c>numHeads</c> heads of
/// embedDim / numHeads features, attended per head, and projected back by <c>out_proj</c>. Parameters are named
/// as PyTorch's (<c>in_proj_weight</c>, <c>in_proj_bias</c>, <c>out_proj.weight</c>, <c>out_proj.bias</c>), so a
/// state dict maps one to one. Initialisation as PyTorch's: Xavier-uniform <c>in_proj_weight</c>, the Linear
/// default for <c>out_proj.weight</c>, zero biases.
/// </summary>
/// <remarks>
/// <para>Inputs are [L, N, E] (or [N, L, E] with <c>batchFirst</c>), or unbatched [L, E]. Without attention
/// weights (<c>needWeights: false</c>) the heads go through the fused <c>Tensor.ScaledDotProductAttention</c>;
/// with them (PyTorch's default) the scores, the softmax and the product are composed ops.</para>
/// <para>Masks: the engine's tensors hold no booleans, so <c>keyPaddingMask</c> and <c>attnMask</c> are 0/1 masks in
/// PyTorch's boolean meaning for this module: 1 (true) = not allowed to attend. Any other value throws: PyTorch's
/// additive float masks are not supported. <c>isCausal</c> applies the causal triangle (query i sees keys j ≤ i)
/// by itself, where PyTorch wants the mask as well and takes the flag as a hint; given both, both apply, which is
/// the same when the hint is true. A query that no key may attend gives 0 (and no gradient), as
/// <c>ScaledDotProductAttention</c>, where PyTorch gives NaN.</para>
/// <para>Not supported: <c>add_bias_kv</c>, <c>add_zero_attn</c>, <c>kdim</c>/<c>vdim</c> other than embedDim.</para>
/// </remarks>
public sealed class MultiheadAttention<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Generator? _generator;

    /// <param name="embedDim">Features of the query, key and value (E).</param>
    /// <param name="numHeads">Heads; must divide <paramref name="embedDim"/>.</param>
    /// <param name="dropout">Dropout on the attention weights in training mode.</param>
    /// <param name="bias">Whether the input and output projections have biases.</param>
    /// <param name="batchFirst">Inputs and output are [N, L, E] instead of [L, N, E].</param>
    /// <param name="generator">Source of the initial weights and the dropout masks (the default generator when null).</param>
    public MultiheadAttention(int embedDim, int numHeads, double dropout = 0.0, bool bias = true, bool batchFirst = false, Generator? generator = null)
    {
        if (embedDim < 1 || numHeads < 1)
        {
            throw new ArgumentException($"MultiheadAttention: embed_dim and num_heads must be positive, got embedDim {embedDim}, numHeads {numHeads}.", embedDim < 1 ? nameof(embedDim) : nameof(numHeads));
        }

        if (embedDim % numHeads != 0)
        {
            throw new ArgumentException($"MultiheadAttention: embed_dim must be divisible by num_heads, got embedDim {embedDim}, numHeads {numHeads}.", nameof(numHeads));
        }

        if (!(dropout >= 0 && dropout <= 1))
        {
            throw new ArgumentException($"MultiheadAttention: dropout must be in [0, 1], got {dropout}.", nameof(dropout));
        }

        EmbedDim = embedDim;
        NumHeads = numHeads;
        Dropout = dropout;
        BatchFirst = batchFirst;
        _generator = generator;

        // PyTorch's order of draws: out_proj is made (its default init), then _reset_parameters.
        var outProj = new Linear<T>(embedDim, embedDim, bias, generator);
        InProjWeight = RegisterParameter("in_proj_weight", Init.XavierUniform(Tensor.Zeros<T>(3 * embedDim, embedDim), generator: generator))!;
        InProjBias = RegisterParameter("in_proj_bias", bias ? Tensor.Zeros<T>(3 * embedDim) : null);
        OutProj = RegisterModule("out_proj", outProj);
        if (outProj.Bias is { } outBias)
        {
            Init.Zeros(outBias);
        }
    }

    public int EmbedDim { get; }

    public int NumHeads { get; }

    /// <summary>Features per head: embedDim / numHeads.</summary>
    public int HeadDim => EmbedDim / NumHeads;

    /// <summary>Dropout probability on the attention weights (training mode only).</summary>
    public double Dropout { get; }

    public bool BatchFirst { get; }

    /// <summary>[3·embedDim, embedDim]: the query, key and value projections stacked.</summary>
    public Tensor<T> InProjWeight { get; }

    /// <summary>[3·embedDim], or null without bias.</summary>
    public Tensor<T>? InProjBias { get; }

    /// <summary>The output projection, embedDim → embedDim.</summary>
    public Linear<T> OutProj { get; }

    /// <summary>
    /// Attends <paramref name="query"/> to <paramref name="key"/>/<paramref name="value"/> (PyTorch's forward,
    /// argument for argument). Returns the output, shaped as the query, and with <paramref name="needWeights"/>
    /// the attention weights: [N, L, S] averaged over the heads, or [N, numHeads, L, S] without
    /// <paramref name="averageAttnWeights"/> ([L, S] / [numHeads, L, S] unbatched); null otherwise.
    /// </summary>
    /// <param name="query">[L, N, E] ([N, L, E] with batchFirst) or unbatched [L, E].</param>
    /// <param name="key">[S, N, E] ([N, S, E]) or [S, E]. Passing the query itself as key and value (self-attention) projects once.</param>
    /// <param name="value">[S, N, E] ([N, S, E]) or [S, E].</param>
    /// <param name="keyPaddingMask">[N, S] (or [S]), 1 where a key is padding (ignored).</param>
    /// <param name="needWeights">Return the attention weights (composed path); false runs the fused attention.</param>
    /// <param name="attnMask">[L, S] or [N·numHeads, L, S] ([numHeads, L, S] unbatched), 1 where a query may not attend a key.</param>
    /// <param name="averageAttnWeights">Average the returned weights over the heads.</param>
    /// <param name="isCausal">Query i attends keys j ≤ i only.</param>
    /// <param name="callerFile">Filled in by the compiler: the calling file, kept on the tape nodes.</param>
    /// <param name="callerLine">Filled in by the compiler: the calling line, kept on the tape nodes.</param>
    public (Tensor<T> Output, Tensor<T>? Weights) Forward(
        Tensor<T> query,
        Tensor<T> key,
        Tensor<T> value,
        Tensor<T>? keyPaddingMask = null,
        bool needWeights = true,
        Tensor<T>? attnMask = null,
        bool averageAttnWeights = true,
        bool isCausal = false,
        [CallerFilePath] string callerFile = "",
        [CallerLineNumber] int callerLine = 0)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        using var site = EnterForward(callerFile, callerLine);
        var shapes = $"query {ShapeMath.Format(query.Shape)}, key {ShapeMath.Format(key.Shape)}, value {ShapeMath.Format(value.Shape)}";
        var batched = query.Rank == 3;
        var (q3, k3, v3) = (BatchFirstView(query, batched), BatchFirstView(key, batched), BatchFirstView(value, batched));
        CheckInputs(query, key, value, q3, k3, v3, shapes);
        int n = q3.Size(0), l = q3.Size(1), s = k3.Size(1);
        var mask = AllowedMask(keyPaddingMask, attnMask, batched, n, l, s, shapes);
        if (isCausal && (needWeights || mask is not null))
        {
            // The fused attention takes isCausal alone; with other masks, or for the composed path, the triangle joins the mask.
            var causal = Tensor.Ones<T>(l, s).Tril().View(1, 1, l, s);
            mask = mask is null ? causal : mask * causal;
        }

        var (q, k, v) = Project(q3, k3, v3, selfAttention: ReferenceEquals(query, key) && ReferenceEquals(key, value));
        var (qh, kh, vh) = (Heads(q, n, l), Heads(k, n, s), Heads(v, n, s));
        var dropout = Training ? Dropout : 0.0;
        Tensor<T> o;
        Tensor<T>? weights = null;
        if (needWeights)
        {
            var scores = qh.MatMul(kh.Transpose(-2, -1)) * (1.0 / Math.Sqrt(HeadDim));
            var w = mask is null ? scores.Softmax(-1) : MaskedSoftmax(scores, mask);
            if (dropout > 0)
            {
                w = w.Dropout(dropout, true, _generator);
            }

            o = w.MatMul(vh);
            weights = averageAttnWeights ? w.Mean(1) : w;
            weights = batched ? weights : weights.Squeeze(0);
        }
        else
        {
            o = Tensor.ScaledDotProductAttention(qh, kh, vh, attnMask: mask, dropoutP: dropout, isCausal: isCausal && mask is null, generator: _generator);
        }

        var y = OutProj.Forward(o.Transpose(1, 2).Reshape(n, l, EmbedDim));
        return (batched ? (BatchFirst ? y : y.Transpose(0, 1)) : y.Squeeze(0), weights);
    }

    /// <summary>Attention needs a query, a key and a value: call <see cref="Forward(Tensor{T}, Tensor{T}, Tensor{T}, Tensor{T}?, bool, Tensor{T}?, bool, bool, string, int)"/>.</summary>
    [Obsolete("MultiheadAttention takes the query, key and value: Forward(query, key, value, ...).", error: true)]
    public new Tensor<T> Forward(Tensor<T> input, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
        base.Forward(input, callerFile, callerLine);

    protected override Tensor<T> ForwardCore(Tensor<T> input) =>
        throw new InvalidOperationException($"MultiheadAttention: attention takes the query, key and value: Forward(query, key, value, ...), got only {ShapeMath.Format(input.Shape)}.");

    /// <summary>[N, L, E]: the input itself (batchFirst), its transpose, or an unbatched input with N = 1.</summary>
    private Tensor<T> BatchFirstView(Tensor<T> x, bool batched) =>
        x.Rank == 3 ? (BatchFirst ? x : x.Transpose(0, 1)) : x.Rank == 2 && !batched ? x.Unsqueeze(0) : x;

    private void CheckInputs(Tensor<T> query, Tensor<T> key, Tensor<T> value, Tensor<T> q3, Tensor<T> k3, Tensor<T> v3, string shapes)
    {
        if (query.Rank is not (2 or 3))
        {
            throw new ArgumentException($"MultiheadAttention: query must be 3-D (batched) or 2-D (unbatched) ({shapes}).", nameof(query));
        }

        if (key.Rank != query.Rank || value.Rank != query.Rank)
        {
            throw new ArgumentException($"MultiheadAttention: key and value must have the rank of the query ({shapes}).", key.Rank != query.Rank ? nameof(key) : nameof(value));
        }

        foreach (var (x, name) in new[] { (q3, nameof(query)), (k3, nameof(key)), (v3, nameof(value)) })
        {
            if (x.Size(-1) != EmbedDim)
            {
                throw new ArgumentException($"MultiheadAttention: {name} must have embed_dim = {EmbedDim} features, got {x.Size(-1)} ({shapes}).", name);
            }
        }

        if (k3.Size(0) != q3.Size(0) || v3.Size(0) != q3.Size(0))
        {
            throw new ArgumentException($"MultiheadAttention: query, key and value must have the same batch size ({shapes}, batch_first={(BatchFirst ? "True" : "False")}).", k3.Size(0) != q3.Size(0) ? nameof(key) : nameof(value));
        }

        if (v3.Size(1) != k3.Size(1))
        {
            throw new ArgumentException($"MultiheadAttention: key and value must have the same sequence length ({shapes}).", nameof(value));
        }
    }

    /// <summary>
    /// The engine's take-part mask (1: may attend) broadcasting to [N, H, L, S], from the module's masks (1: may not),
    /// or null when nothing is masked.
    /// </summary>
    private Tensor<T>? AllowedMask(Tensor<T>? keyPaddingMask, Tensor<T>? attnMask, bool batched, int n, int l, int s, string shapes)
    {
        Tensor<T>? allowed = null;
        if (keyPaddingMask is not null)
        {
            int[] expected = batched ? [n, s] : [s];
            if (!keyPaddingMask.Shape.AsSpan().SequenceEqual(expected))
            {
                throw new ArgumentException(
                    $"MultiheadAttention: keyPaddingMask must have shape {(batched ? "[N, S]" : "[S]")} = {ShapeMath.Format(expected)}, got {ShapeMath.Format(keyPaddingMask.Shape)} ({shapes}).",
                    nameof(keyPaddingMask));
            }

            allowed = Complement(keyPaddingMask, nameof(keyPaddingMask), shapes).View(n, 1, 1, s);
        }

        if (attnMask is not null)
        {
            int[] perHead = batched ? [n * NumHeads, l, s] : [NumHeads, l, s];
            if (!attnMask.Shape.AsSpan().SequenceEqual([l, s]) && !attnMask.Shape.AsSpan().SequenceEqual(perHead))
            {
                throw new ArgumentException(
                    $"MultiheadAttention: attnMask must have shape [L, S] = {ShapeMath.Format([l, s])} or {(batched ? "[N·num_heads, L, S]" : "[num_heads, L, S]")} = {ShapeMath.Format(perHead)}, got {ShapeMath.Format(attnMask.Shape)} ({shapes}).",
                    nameof(attnMask));
            }

            var m = Complement(attnMask, nameof(attnMask), shapes);
            m = attnMask.Rank == 2 ? m.View(1, 1, l, s) : m.View(n, NumHeads, l, s);
            allowed = allowed is null ? m : allowed * m;
        }

        return allowed;
    }

    /// <summary>1 − mask, after checking that the mask holds only 0 and 1.</summary>
    private static Tensor<T> Complement(Tensor<T> mask, string name, string shapes)
    {
        var values = mask.ToArray();
        var bad = Array.FindIndex(values, v => v != T.Zero && v != T.One);
        if (bad >= 0)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"MultiheadAttention: {name} holds {values[bad]} at flat position {bad}; it is a 0/1 mask (1: not allowed to attend, PyTorch's boolean mask); additive float masks are not supported ({shapes}, {name} {ShapeMath.Format(mask.Shape)})."),
                name);
        }

        return 1.0 - mask.Detach();
    }

    /// <summary>Softmax over the keys allowed by <paramref name="allowed"/>; a row with none gives 0 (and no gradient).</summary>
    private static Tensor<T> MaskedSoftmax(Tensor<T> scores, Tensor<T> allowed)
    {
        var hasKey = allowed.Sum(-1, keepDim: true).Gt(0.0);
        return scores.MaskedFill((1.0 - allowed) * hasKey, double.NegativeInfinity).Softmax(-1) * hasKey;
    }

    /// <summary>q, k, v [N, ·, E]: one product for self-attention, else each input by its third of the weight.</summary>
    private (Tensor<T> Q, Tensor<T> K, Tensor<T> V) Project(Tensor<T> q3, Tensor<T> k3, Tensor<T> v3, bool selfAttention)
    {
        if (selfAttention)
        {
            var qkv = q3.MatMul(InProjWeight.Transpose(0, 1));
            qkv = InProjBias is null ? qkv : qkv + InProjBias;
            var parts = qkv.Split(EmbedDim, -1);
            return (parts[0], parts[1], parts[2]);
        }

        Tensor<T> One(Tensor<T> x, int part)
        {
            var y = x.MatMul(InProjWeight.Narrow(0, part * EmbedDim, EmbedDim).Transpose(0, 1));
            return InProjBias is null ? y : y + InProjBias.Narrow(0, part * EmbedDim, EmbedDim);
        }

        return (One(q3, 0), One(k3, 1), One(v3, 2));
    }

    /// <summary>[N, len, E] → [N, H, len, E/H], a view.</summary>
    private Tensor<T> Heads(Tensor<T> x, int n, int length) => x.View(n, length, NumHeads, HeadDim).Transpose(1, 2);

    protected override string ExtraRepr() => "";
}
