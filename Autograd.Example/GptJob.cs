using System.Diagnostics;
using System.Text;
using Autograd.Nn;
using Autograd.Optim;

namespace Autograd.Example;

/// <summary>
/// A text as characters (Unicode scalar values, Python's str): the vocabulary is its sorted distinct characters
/// (by code point, as Python's <c>sorted(set(text))</c>), the first 90 % of the encoded text trains, the rest validates.
/// </summary>
public sealed class CharData
{
    private readonly Dictionary<Rune, int> _stoi;

    public CharData(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var runes = text.EnumerateRunes().ToArray();
        Chars = [.. runes.Distinct().Order()];
        _stoi = Chars.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i);
        var data = Encode(runes);
        var n = (int)(0.9 * data.Length);   // int(0.9 * len(data))
        Train = data[..n];
        Val = data[n..];
    }

    /// <summary>The vocabulary, sorted by code point.</summary>
    public IReadOnlyList<Rune> Chars { get; }

    public int Vocab => Chars.Count;

    public int[] Train { get; }

    public int[] Val { get; }

    public int[] Encode(IEnumerable<Rune> text) => [.. text.Select(c => _stoi[c])];

    public string Decode(IEnumerable<int> tokens) => string.Concat(tokens.Select(t => Chars[t].ToString()));

    /// <summary>The token of <paramref name="c"/>, or null when the text has no such character.</summary>
    public int? TokenOf(char c) => _stoi.TryGetValue(new Rune(c), out var t) ? t : null;
}

/// <summary>What a run reports, with the script's JSON keys (snake case there).</summary>
public sealed record GptRunResult(
    int Iters, IReadOnlyList<double> StepMs, IReadOnlyList<double> Losses, double ValLoss, int ValTokens, double ValSeconds)
{
    /// <summary>The script's ms_per_step: the median over steps 20.. when there are more than 40, else over all.</summary>
    public double MsPerStep => GptJob.Median(StepMs.Count > 40 ? StepMs.Skip(20) : StepMs);

    public double MsPerStepMin => (StepMs.Count > 20 ? StepMs.Skip(20) : StepMs).Min();

    /// <summary>The script's tokens_per_s: batch·block over the median of steps 20.. (all steps when there are at most 20).</summary>
    public double TokensPerSecond => GptJob.BatchSize * GptJob.BlockSize / (GptJob.Median(StepMs.Count > 20 ? StepMs.Skip(20) : StepMs) / 1e3);

    public double TrainLossLast50 => Losses.TakeLast(50).Average();

    public double TotalTrainSeconds => StepMs.Sum() / 1e3;
}

/// <summary>
/// gpt_char.py's training, step for step: random batches of 12 windows of 64 characters from the training split,
/// AdamW (betas 0.9, 0.99) with weight decay 0.1 on the parameters of 2+ dimensions and none on the others (two
/// groups), lr_at(it) set on every group before each step (warmup 100 steps, cosine to 1e-4 at the last step),
/// gradients clipped to global norm 1.0. The batch offsets come from the engine's <see cref="Generator"/>, not
/// PyTorch's stream, so the runs agree in distribution, not digit for digit.
/// </summary>
public sealed class GptJob
{
    public const int BatchSize = 12;
    public const int BlockSize = 64;
    public const double LearningRate = 1e-3;
    public const double MinLr = 1e-4;
    public const int Warmup = 100;
    public const double Beta1 = 0.9;
    public const double Beta2 = 0.99;
    public const double WeightDecay = 0.1;
    public const double GradClip = 1.0;

    /// <summary>Validation windows per forward pass (the script's 64).</summary>
    public const int ValWindowsPerForward = 64;

    private readonly int[] _train;
    private readonly Generator _generator;
    private readonly int _block;
    private readonly int _rank;
    private readonly int _ranks;

    /// <param name="model">Trained in place.</param>
    /// <param name="train">The encoded training split.</param>
    /// <param name="iters">Steps; also the script's decay_iters, where the cosine reaches min_lr.</param>
    /// <param name="generator">Draws the batch offsets.</param>
    /// <param name="rank">Data-parallel: which share of each batch this process trains on (0 alone).</param>
    /// <param name="ranks">Data-parallel: how many processes share each batch (1 alone); must divide <see cref="BatchSize"/>.</param>
    public GptJob(CharGpt model, int[] train, int iters, Generator generator, int rank = 0, int ranks = 1)
    {
        if (ranks < 1 || BatchSize % ranks != 0 || (uint)rank >= (uint)ranks)
        {
            throw new ArgumentException($"GptJob: the batch of {BatchSize} cannot be shared as part {rank} of {ranks}; the number of ranks must divide {BatchSize}.", nameof(ranks));
        }

        _rank = rank;
        _ranks = ranks;
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        _block = model.Config.Block;
        if (train.Length <= _block)
        {
            throw new ArgumentException($"GptJob: the training split has {train.Length} characters; it needs more than the context of {_block}.", nameof(train));
        }

        Model = model;
        _train = train;
        Iters = iters;
        _generator = generator;
        var ps = model.Parameters().ToList();
        var defaults = new AdamWOptions { Lr = LearningRate, Beta1 = Beta1, Beta2 = Beta2 };
        Optimizer = new AdamW<float>(
            [
                new ParamGroup<float>(ps.Where(p => p.Rank >= 2), defaults with { WeightDecay = WeightDecay }),
                new ParamGroup<float>(ps.Where(p => p.Rank < 2), defaults with { WeightDecay = 0.0 }),
            ],
            defaults);
    }

    public CharGpt Model { get; }

    public AdamW<float> Optimizer { get; }

    public int Iters { get; }

    /// <summary>The script's lr_at: lr·(it + 1)/(warmup + 1) during warmup, min_lr past decay_iters, else the cosine from lr to min_lr.</summary>
    public static double LrAt(int it, int decayIters)
    {
        if (it < Warmup)
        {
            return LearningRate * (it + 1) / (Warmup + 1);
        }

        if (it > decayIters)
        {
            return MinLr;
        }

        var r = (double)(it - Warmup) / (decayIters - Warmup);
        return MinLr + 0.5 * (1.0 + Math.Cos(Math.PI * r)) * (LearningRate - MinLr);
    }

    /// <summary>
    /// The script's get_batch: 12 offsets uniform in [0, len(train) − block), inputs train[i:i+block], targets
    /// shifted by one. Data-parallel, every rank draws the same 12 offsets (same seed) and keeps its
    /// 12 / ranks consecutive rows, so the ranks' batches make up the single process's.
    /// </summary>
    public (IndexTensor X, int[] Y) GetBatch()
    {
        var rows = BatchSize / _ranks;
        var x = new int[rows * _block];
        var y = new int[rows * _block];
        for (var b = 0; b < BatchSize; b++)
        {
            var i = _generator.NextInt(_train.Length - _block);
            var row = b - _rank * rows;
            if ((uint)row < (uint)rows)
            {
                _train.AsSpan(i, _block).CopyTo(x.AsSpan(row * _block));
                _train.AsSpan(i + 1, _block).CopyTo(y.AsSpan(row * _block));
            }
        }

        return (IndexTensor.FromArray(x, [rows, _block]), y);
    }

    /// <summary>One training step <paramref name="it"/> (0-based); returns the loss and the step's milliseconds, timed as the script times it.</summary>
    public (double Loss, double Ms) Step(int it)
    {
        var clock = Stopwatch.StartNew();
        foreach (var group in Optimizer.ParamGroups)
        {
            group.Lr = LrAt(it, Iters);
        }

        var (x, y) = GetBatch();
        var loss = Model.Loss(x, y);
        Optimizer.ZeroGrad(setToNone: true);
        loss.Backward();
        Utils.ClipGradNorm(Model.Parameters(), GradClip);
        Optimizer.Step();
        var ms = clock.Elapsed.TotalMilliseconds;
        return (loss.Item(), ms);
    }

    /// <summary>Trains <see cref="Iters"/> steps, then measures the validation loss; <paramref name="onStep"/> gets (step, loss, ms) after each step.</summary>
    public GptRunResult Run(int[] val, Action<int, double, double>? onStep = null)
    {
        var ms = new List<double>(Iters);
        var losses = new List<double>(Iters);
        for (var it = 0; it < Iters; it++)
        {
            var (loss, stepMs) = Step(it);
            ms.Add(stepMs);
            losses.Add(loss);
            onStep?.Invoke(it + 1, loss, stepMs);
        }

        var clock = Stopwatch.StartNew();
        var (valLoss, count) = ValLoss(Model, val);
        return new GptRunResult(Iters, ms, losses, valLoss, count, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The script's val_loss for <paramref name="model"/>: eval mode, no grad, then back to training mode.</summary>
    public static (double Loss, int Count) ValLoss(CharGpt model, int[] val)
    {
        ArgumentNullException.ThrowIfNull(model);
        model.Eval();
        try
        {
            using (Tensor.NoGrad())
            {
                return ValLoss((x, y) => model.Loss(x, y).Item(), val, model.Config.Block);
            }
        }
        finally
        {
            model.Train();
        }
    }

    /// <summary>
    /// The script's val_loss over <paramref name="val"/>: consecutive windows val[i:i+block] → val[i+1:i+1+block] for
    /// i = 0, block, 2·block, … while i &lt; len − block, <see cref="ValWindowsPerForward"/> windows per call of
    /// <paramref name="meanLoss"/> (the mean over its positions), every target position scored once: the result is
    /// Σ mean·count / Σ count, and the count (111,488 positions on tiny Shakespeare's 111,540).
    /// </summary>
    public static (double Loss, int Count) ValLoss(Func<IndexTensor, int[], double> meanLoss, int[] val, int block)
    {
        ArgumentNullException.ThrowIfNull(meanLoss);
        ArgumentNullException.ThrowIfNull(val);
        double total = 0;
        var count = 0;
        for (var s = 0; s < val.Length - block; s += block * ValWindowsPerForward)
        {
            var end = Math.Min(s + block * ValWindowsPerForward, val.Length - block);
            var windows = (end - s + block - 1) / block;
            var x = new int[windows * block];
            var y = new int[windows * block];
            for (var w = 0; w < windows; w++)
            {
                val.AsSpan(s + w * block, block).CopyTo(x.AsSpan(w * block));
                val.AsSpan(s + w * block + 1, block).CopyTo(y.AsSpan(w * block));
            }

            total += meanLoss(IndexTensor.FromArray(x, [windows, block]), y) * y.Length;
            count += y.Length;
        }

        return (count == 0 ? double.NaN : total / count, count);
    }

    /// <summary>
    /// <paramref name="length"/> characters generated after <paramref name="prompt"/> (the last block of the context each
    /// step): the last position's logits over <paramref name="temperature"/>, the <paramref name="topK"/> largest
    /// (TopK), their softmax, one draw (Multinomial) from <paramref name="generator"/>. Eval mode, no grad.
    /// </summary>
    public static int[] Sample(CharGpt model, int[] prompt, int length, double temperature, int topK, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prompt);
        var context = new List<int>(prompt);
        model.Eval();
        try
        {
            using (Tensor.NoGrad())
            {
                for (var n = 0; n < length; n++)
                {
                    var window = context.TakeLast(model.Config.Block).ToArray();
                    var logits = model.Forward(IndexTensor.FromArray(window, [1, window.Length]))[0, window.Length - 1];
                    var (values, indices) = (logits * (1.0 / temperature)).TopK(Math.Min(topK, model.Config.Vocab));
                    var pick = (int)values.Softmax(-1).Multinomial(1, generator: generator).Item();
                    context.Add((int)indices.At(pick));
                }
            }
        }
        finally
        {
            model.Train();
        }

        return [.. context.Skip(prompt.Length)];
    }

    /// <summary>Python's statistics.median.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
