using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd.Nn;

/// <summary>
/// A lookup table of <c>numEmbeddings</c> vectors of size <c>embeddingDim</c> (PyTorch's <c>nn.Embedding</c>),
/// through the <c>Embedding</c> op: <c>Forward(ids)</c> on token ids of any shape [...] gives [..., embeddingDim].
/// The weight [numEmbeddings, embeddingDim] starts as N(0, 1), as PyTorch's, with the row
/// <see cref="PaddingIdx"/> (when given) zeroed; that row gets no gradient. <see cref="Weight"/> is settable,
/// which ties it to another module's parameter (<c>lmHead.Weight = wte.Weight</c>).
/// </summary>
/// <remarks>
/// The ids are an <see cref="IndexTensor"/> (PyTorch's LongTensor), so the tensor-taking <c>Forward</c> of
/// <see cref="Module{T}"/> does not compile here. PyTorch's <c>max_norm</c>, <c>scale_grad_by_freq</c> and
/// <c>sparse</c> are not supported.
/// </remarks>
public sealed class Embedding<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <param name="numEmbeddings">Size of the table (the vocabulary).</param>
    /// <param name="embeddingDim">Size of each vector.</param>
    /// <param name="paddingIdx">A row that stays zero-initialised and gets no gradient; negative counts from the end.</param>
    /// <param name="generator">Source of the initial weights (the default generator when null).</param>
    public Embedding(int numEmbeddings, int embeddingDim, int? paddingIdx = null, Generator? generator = null)
    {
        if (numEmbeddings < 1 || embeddingDim < 1)
        {
            throw new ArgumentException($"Embedding: num_embeddings and embedding_dim must be positive, got ({numEmbeddings}, {embeddingDim}).", nameof(numEmbeddings));
        }

        if (paddingIdx is { } p && (p < -numEmbeddings || p >= numEmbeddings))
        {
            throw new ArgumentException($"Embedding: padding_idx must be within num_embeddings = {numEmbeddings}, got {p}.", nameof(paddingIdx));
        }

        NumEmbeddings = numEmbeddings;
        EmbeddingDim = embeddingDim;
        PaddingIdx = paddingIdx is { } q && q < 0 ? q + numEmbeddings : paddingIdx;
        var weight = Init.Normal(Tensor.Zeros<T>(numEmbeddings, embeddingDim), 0.0, 1.0, generator);
        if (PaddingIdx is { } row)
        {
            weight[row].Fill(T.Zero);
        }

        Weight = RegisterParameter("weight", weight)!;
    }

    public int NumEmbeddings { get; }

    public int EmbeddingDim { get; }

    /// <summary>The padding row (non-negative, as PyTorch stores it), or null.</summary>
    public int? PaddingIdx { get; }

    /// <summary>
    /// [numEmbeddings, embeddingDim]. Setting it replaces the registered parameter (PyTorch's
    /// <c>embedding.weight = other</c>); setting it to another module's parameter ties the two (see
    /// <see cref="Module{T}.ReplaceParameter"/>). Do it before making the optimiser.
    /// </summary>
    public Tensor<T> Weight
    {
        get;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (value.Rank != 2 || value.Size(0) != NumEmbeddings || value.Size(1) != EmbeddingDim)
            {
                throw new ArgumentException(
                    $"Embedding: weight must have shape [num_embeddings, embedding_dim] = [{NumEmbeddings}, {EmbeddingDim}], got {ShapeMath.Format(value.Shape)}.", nameof(value));
            }

            field = ReplaceParameter("weight", value)!;
        }
    }

    /// <summary>
    /// The rows of <see cref="Weight"/> picked by <paramref name="input"/>: [..input, embeddingDim]. An id outside
    /// [0, numEmbeddings) throws an <see cref="ArgumentException"/> naming it, its position and the shapes.
    /// </summary>
    /// <param name="input">Token ids, any shape.</param>
    /// <param name="callerFile">Filled in by the compiler: the calling file, kept on the tape nodes.</param>
    /// <param name="callerLine">Filled in by the compiler: the calling line, kept on the tape nodes.</param>
    public Tensor<T> Forward(IndexTensor input, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var site = EnterForward(callerFile, callerLine);
        return Observed(Weight.Embedding(input, PaddingIdx, callerFile, callerLine));
    }

    /// <summary>An embedding looks up token ids: call <see cref="Forward(IndexTensor, string, int)"/>.</summary>
    [Obsolete("Embedding takes token ids: Forward(IndexTensor).", error: true)]
    public new Tensor<T> Forward(Tensor<T> input, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
        base.Forward(input, callerFile, callerLine);

    protected override Tensor<T> ForwardCore(Tensor<T> input) =>
        throw new InvalidOperationException($"Embedding: the input is token ids, Forward(IndexTensor), got a tensor {ShapeMath.Format(input.Shape)}.");

    protected override string ExtraRepr() =>
        $"{NumEmbeddings}, {EmbeddingDim}{(PaddingIdx is { } p ? $", padding_idx={p}" : "")}";
}
