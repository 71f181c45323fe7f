using System.Text;
using System.Text.Json;
using Autograd.Example;

namespace Autograd.Nn.Tests;

/// <summary>
/// The GPT job of Autograd.Example (compiled in): gpt_char.py's model names and parameter count, its data split,
/// lr_at, a few training steps, the validation routine's coverage, safetensors under the script's names, sampling,
/// and the verb's argument errors; the full 2000-step recipe is opt-in.
/// </summary>
public class GptJobTests
{
    private const string Text = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n";

    /// <summary>A small model of the recipe's shape: 2 layers, 2 heads, 16 channels, context 8.</summary>
    private static CharGpt Small(int vocab, ulong seed = 1) => new(new GptConfig(vocab, Layers: 2, Heads: 2, Embd: 16, Block: 8), new Generator(seed));

    /// <summary>gpt_char.py's named_parameters() (the tied head once), or its state_dict() (the causal buffers and lm_head.weight too).</summary>
    private static List<string> ScriptKeys(int layers, bool stateDict)
    {
        var keys = new List<string> { "wte.weight", "wpe.weight" };
        for (var i = 0; i < layers; i++)
        {
            keys.Add($"h.{i}.ln_1.weight");
            if (stateDict)
            {
                keys.Add($"h.{i}.attn.causal");
            }

            keys.AddRange([$"h.{i}.attn.c_attn.weight", $"h.{i}.attn.c_proj.weight", $"h.{i}.ln_2.weight", $"h.{i}.c_fc.weight", $"h.{i}.c_proj.weight"]);
        }

        keys.Add("ln_f.weight");
        if (stateDict)
        {
            keys.Add("lm_head.weight");
        }

        return keys;
    }

    [Test]
    public void CharData_VocabularyIsTheSortedCharacters_AndTheFirst90PercentTrain()
    {
        var data = new CharData(Text);
        Assert.That(data.Decode(Enumerable.Range(0, data.Vocab)), Is.EqualTo("\n ,.:ABCFSacdefhiklmnoprstuwyz"));
        Assert.That(data.Train.Length, Is.EqualTo((int)(0.9 * Text.Length)));
        Assert.That(data.Decode(data.Train) + data.Decode(data.Val), Is.EqualTo(Text));
        Assert.That(data.TokenOf('\n'), Is.EqualTo(0));
        Assert.That(data.TokenOf('Q'), Is.Null);

        var astral = new CharData("b😀a😀");   // one character outside the BMP: one token, as in Python's str
        Assert.That(astral.Vocab, Is.EqualTo(3));
        Assert.That(astral.Decode([2]), Is.EqualTo("😀"));
    }

    [Test]
    public void TheModel_HasTheScriptsNames_AndItsParameterCount()
    {
        var vocab = new CharData(Text).Vocab;
        var model = new CharGpt(new GptConfig(vocab), new Generator(1));
        Assert.That(model.NamedParameters().Select(p => p.Name), Is.EqualTo(ScriptKeys(4, stateDict: false)), "lm_head.weight is wte.weight");
        Assert.That(model.StateDict().Keys, Is.EqualTo(ScriptKeys(4, stateDict: true)), "the script's state_dict: the causal buffers and both tied names");
        Assert.That(model.LmHead.Weight, Is.SameAs(model.Wte.Weight));
        var count = model.Parameters().Sum(p => (long)p.Numel);
        Assert.That(count, Is.EqualTo(128L * vocab + 795_776), "params = 128·vocab + 795,776");
        Assert.That(count, Is.EqualTo(model.Config.ParameterCount));
        Assert.That(new GptConfig(65).ParameterCount, Is.EqualTo(804_096), "PyTorch's figure for tiny Shakespeare");
        Assert.That(model.StateDict()["h.0.attn.causal"].Shape, Is.EqualTo(new[] { 1, 1, 64, 64 }));

        // N(0, 0.02) for the Linear and Embedding weights, N(0, 0.02/√8) for the residual projections, LayerNorm weights 1.
        double Std(string name) => Math.Sqrt(model.StateDict()[name].ToArray().Average(v => (double)v * v));
        Assert.That(Std("h.1.c_fc.weight"), Is.EqualTo(0.02).Within(0.001));
        Assert.That(Std("wpe.weight"), Is.EqualTo(0.02).Within(0.001));
        Assert.That(Std("h.1.c_proj.weight"), Is.EqualTo(0.02 / Math.Sqrt(8)).Within(0.0005));
        Assert.That(Std("h.1.attn.c_proj.weight"), Is.EqualTo(0.02 / Math.Sqrt(8)).Within(0.0005));
        Assert.That(model.StateDict()["ln_f.weight"].ToArray(), Is.All.EqualTo(1f));
    }

    [Test]
    public void LrAt_IsTheScripts()
    {
        // gpt_char.py's lr_at(it) for it = 0, 1, 99, 100, 101, 1050, 1999, 2000, 2001 with decay_iters 2000, from Python.
        int[] its = [0, 1, 99, 100, 101, 1050, 1999, 2000, 2001];
        double[] expected = [9.900990099009901e-06, 1.9801980198019803e-05, 0.0009900990099009901, 0.001, 0.0009999993848585915, 0.00055, 0.00010000061514140841, 0.0001, 0.0001];
        Assert.That(its.Select(it => GptJob.LrAt(it, 2000)), Is.EqualTo(expected).Within(1e-18));
    }

    [Test]
    public void AFewSteps_OnATinyText_LowerTheLoss_WithTheRecipesOptimiser()
    {
        var data = new CharData(string.Concat(Enumerable.Repeat(Text, 8)));
        var model = Small(data.Vocab);
        var job = new GptJob(model, data.Train, iters: 150, new Generator(2));
        Assert.That(job.Optimizer.ParamGroups[0].Parameters.Select(p => p.Rank), Is.All.EqualTo(2), "decayed: the 2-D weights");
        Assert.That(job.Optimizer.ParamGroups[1].Parameters.Select(p => p.Rank), Is.All.EqualTo(1), "not decayed: the LayerNorm weights");
        Assert.That(job.Optimizer.ParamGroups.Sum(g => g.Parameters.Count), Is.EqualTo(model.Parameters().Count()));

        var (before, _) = GptJob.ValLoss(model, data.Val);
        var result = job.Run(data.Val);
        Assert.That(result.Losses[0], Is.EqualTo(Math.Log(data.Vocab)).Within(0.1), "N(0, 0.02) weights start near the uniform guess");
        Assert.That(result.TrainLossLast50, Is.LessThan(result.Losses.Take(5).Average() - 0.3));
        Assert.That(result.ValLoss, Is.LessThan(before - 0.3));
        Assert.That(job.Optimizer.ParamGroups.Select(g => g.Lr), Is.All.EqualTo(GptJob.LrAt(149, 150)), "lr_at of the last step");
        Assert.That(model.Training, Is.True, "validation leaves the model in training mode");
        Assert.That(result.StepMs, Has.Count.EqualTo(150));
        Assert.That(result.MsPerStep, Is.EqualTo(GptJob.Median(result.StepMs.Skip(20))));
    }

    [Test]
    public void GetBatch_TakesWindowsOfTheTrainingSplit_AndTheirNextCharacters()
    {
        var train = Enumerable.Range(0, 50).ToArray();   // token i at position i
        var job = new GptJob(Small(50), train, 10, new Generator(3));
        var (x, y) = job.GetBatch();
        Assert.That(x.Shape, Is.EqualTo(new[] { GptJob.BatchSize, 8 }));
        var xs = x.ToArray();
        for (var b = 0; b < GptJob.BatchSize; b++)
        {
            var start = xs[b * 8];
            Assert.That(start, Is.InRange(0, 50 - 8 - 1), "offsets in [0, len − block)");
            Assert.That(xs[(b * 8)..(b * 8 + 8)], Is.EqualTo(Enumerable.Range((int)start, 8).Select(v => (long)v)));
            Assert.That(y[(b * 8)..(b * 8 + 8)], Is.EqualTo(Enumerable.Range((int)start + 1, 8)));
        }
    }

    [TestCase(2)]
    [TestCase(3)]
    public void GetBatch_OfEachRank_IsItsShareOfTheSingleProcessBatch(int ranks)
    {
        // Every rank draws the same offsets (same seed) and keeps its rows: together, the single batch.
        var train = Enumerable.Range(0, 50).ToArray();
        var (x, y) = new GptJob(Small(50), train, 10, new Generator(3)).GetBatch();
        var shares = Enumerable.Range(0, ranks).Select(r => new GptJob(Small(50), train, 10, new Generator(3), r, ranks).GetBatch()).ToList();
        Assert.That(shares.Select(s => s.X.Shape[0]), Is.All.EqualTo(GptJob.BatchSize / ranks));
        Assert.That(shares.SelectMany(s => s.X.ToArray()), Is.EqualTo(x.ToArray()));
        Assert.That(shares.SelectMany(s => s.Y), Is.EqualTo(y));
        Assert.Throws<ArgumentException>(() => new GptJob(Small(50), train, 10, new Generator(3), 0, 5));
        Assert.Throws<ArgumentException>(() => new GptJob(Small(50), train, 10, new Generator(3), 2, 2));
    }

    [Test]
    public void ValLoss_ScoresEveryPositionOfTheSplitOnce()
    {
        // Token i at position i, so the targets name the positions they score.
        var val = Enumerable.Range(0, 600).ToArray();
        var scored = new List<int>();
        var calls = 0;
        var (loss, count) = GptJob.ValLoss(
            (x, y) =>
            {
                calls++;
                Assert.That(x.Shape[0], Is.LessThanOrEqualTo(GptJob.ValWindowsPerForward));
                Assert.That(x.ToArray().Select(v => (int)v + 1), Is.EqualTo(y), "targets are the inputs shifted by one");
                scored.AddRange(y);
                return y.Average();
            },
            val,
            block: 4);
        // Windows start at 0, 4, …, 592 (< 600 − 4): 149 windows, positions 1 … 596 once each, 64 windows a call.
        Assert.That(scored, Is.EqualTo(Enumerable.Range(1, 596)));
        Assert.That(count, Is.EqualTo(596));
        Assert.That(calls, Is.EqualTo(3));
        Assert.That(loss, Is.EqualTo((1 + 596) / 2.0).Within(1e-12), "Σ mean·count / Σ count: the mean over every position");

        // The script's count on tiny Shakespeare's 111,540 validation characters.
        Assert.That(GptJob.ValLoss((_, _) => 0.0, new int[111_540], 64).Count, Is.EqualTo(111_488));
        Assert.That(GptJob.ValLoss((_, _) => 0.0, new int[64], 64).Count, Is.EqualTo(0), "no window fits");
    }

    [Test]
    public void ValLoss_OfTheModel_IsTheMeanCrossEntropyOverThePositions()
    {
        var data = new CharData(string.Concat(Enumerable.Repeat(Text, 3)));
        var model = Small(data.Vocab);
        var (loss, count) = GptJob.ValLoss(model, data.Val);
        Assert.That(count, Is.EqualTo((data.Val.Length - 8 + 7) / 8 * 8));
        using (Tensor.NoGrad())
        {
            var windows = count / 8;
            var x = IndexTensor.FromArray(data.Val[..(windows * 8)], [windows, 8]);
            int[] y = [.. Enumerable.Range(0, windows).SelectMany(w => data.Val[(w * 8 + 1)..(w * 8 + 9)])];
            Assert.That(loss, Is.EqualTo(model.Loss(x, y).Item()).Within(1e-5));
        }
    }

    [Test]
    public void SafeTensors_HoldTheScriptsKeys_AsFloat32_AndLoadBackWithTheTie()
    {
        var path = Path.Combine(Path.GetTempPath(), $"gpt-{Guid.NewGuid():N}.safetensors");
        try
        {
            var source = Small(11, seed: 4);
            source.SaveSafeTensors(path);
            var header = ReadHeader(path);
            Assert.That(header.Keys.Where(k => k != "__metadata__"), Is.EquivalentTo(ScriptKeys(2, stateDict: true)));
            Assert.That(header["h.1.attn.c_attn.weight"].GetProperty("dtype").GetString(), Is.EqualTo("F32"));
            Assert.That(header["h.1.attn.c_attn.weight"].GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()), Is.EqualTo(new[] { 48, 16 }));
            Assert.That(header["lm_head.weight"].GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()), Is.EqualTo(new[] { 11, 16 }));
            var tensors = SafeTensors.Load<float>(path);
            Assert.That(tensors["lm_head.weight"].ToArray(), Is.EqualTo(tensors["wte.weight"].ToArray()), "the tied weight under both names");

            var target = Small(11, seed: 5);
            target.LoadSafeTensors(path);
            Assert.That(target.LmHead.Weight, Is.SameAs(target.Wte.Weight), "the tie survives");
            foreach (var (name, tensor) in source.StateDict())
            {
                Assert.That(target.StateDict()[name].ToArray(), Is.EqualTo(tensor.ToArray()), name);
            }

            var idx = IndexTensor.FromArray([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [2, 5]);
            Assert.That(target.Forward(idx).ToArray(), Is.EqualTo(source.Forward(idx).ToArray()));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static Dictionary<string, JsonElement> ReadHeader(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var length = (int)BitConverter.ToUInt64(bytes, 0);
        return JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(Encoding.UTF8.GetString(bytes, 8, length))!;
    }

    [Test]
    public void Sample_IsSeeded_AndTopOneIsGreedy()
    {
        var model = Small(9, seed: 6);
        var a = GptJob.Sample(model, [0], 30, 0.8, 40, new Generator(7));
        var b = GptJob.Sample(model, [0], 30, 0.8, 40, new Generator(7));
        Assert.That(a, Is.EqualTo(b));
        Assert.That(a, Has.Length.EqualTo(30).And.All.InRange(0, 8));
        Assert.That(model.Training, Is.True);

        // top-k 1: always the most likely next token.
        var greedy = GptJob.Sample(model, [3, 1], 5, 1.0, 1, new Generator(8));
        var context = new List<int> { 3, 1 };
        using (Tensor.NoGrad())
        {
            foreach (var token in greedy)
            {
                var logits = model.Forward(IndexTensor.FromArray(context.TakeLast(8).ToArray(), [1, Math.Min(context.Count, 8)])).ToArray()[^9..];
                Assert.That(token, Is.EqualTo(Array.IndexOf(logits, logits.Max())));
                context.Add(token);
            }
        }
    }

    // ---- the verb's options

    private static string ExistingFile() => typeof(GptJobTests).Assembly.Location;

    [Test]
    public void Options_Defaults_AreTheScripts()
    {
        var (options, message, code) = GptOptions.Parse([], ExistingFile());
        Assert.That((message, code), Is.EqualTo(((string?)null, 0)));
        Assert.That(options, Is.EqualTo(new GptOptions(ExistingFile(), 2000, 2, 1337, "out")));
        (options, _, _) = GptOptions.Parse(["--data", ExistingFile(), "--iters", "200", "--threads", "1", "--seed", "5", "--out", "o"], "missing");
        Assert.That(options, Is.EqualTo(new GptOptions(ExistingFile(), 200, 1, 5, "o")));
        (options, _, _) = GptOptions.Parse(["--distributed", "--data", ExistingFile()], "missing");
        Assert.That(options, Is.EqualTo(new GptOptions(ExistingFile(), 2000, 2, 1337, "out") { Distributed = true }));
        var (_, usage, helpCode) = GptOptions.Parse(["--help"], "missing");
        Assert.That(helpCode, Is.EqualTo(0));
        Assert.That(usage, Does.StartWith("usage: dotnet run --project Autograd.Example -c Release -- gpt"));
    }

    [TestCase(new[] { "--epochs", "3" }, "error: unknown option '--epochs'.")]
    [TestCase(new[] { "--iters" }, "error: --iters needs a value.")]
    [TestCase(new[] { "--iters", "0" }, "error: --iters must be a positive integer, got '0'.")]
    [TestCase(new[] { "--threads", "two" }, "error: --threads must be a positive integer, got 'two'.")]
    [TestCase(new[] { "--seed", "-1" }, "error: --seed must be a non-negative integer, got '-1'.")]
    public void Options_BadArguments_ExitWith2_AndTheUsage(string[] args, string error)
    {
        var (options, message, code) = GptOptions.Parse(args, ExistingFile());
        Assert.That(options, Is.Null);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(message, Does.StartWith(error + "\nusage:"));
    }

    [Test]
    public void Options_MissingData_SayWhereItWasExpected_AndHowToGetIt()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"no-{Guid.NewGuid():N}", "tinyshakespeare.txt");
        var (options, message, code) = GptOptions.Parse([], missing);
        Assert.That((options, code), Is.EqualTo(((GptOptions?)null, 2)));
        Assert.That(message, Does.StartWith($"error: no --data given, and the default file {missing} (../shared/data/tinyshakespeare.txt relative to the repository) does not exist."));
        Assert.That(message, Does.Contain("curl -fLo tinyshakespeare.txt https://").And.EndWith("then pass it with --data FILE."));

        (options, message, code) = GptOptions.Parse(["--data", "nope.txt"], ExistingFile());
        Assert.That((options, code), Is.EqualTo(((GptOptions?)null, 2)));
        Assert.That(message, Does.StartWith("error: the data file 'nope.txt' does not exist.\nget it with: curl"));
    }

    [Test]
    public void DefaultDataPath_IsBesideTheRepository()
    {
        var root = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", ".."));
        Assert.That(File.Exists(Path.Combine(root, "Autograd.sln")), $"the repository root above {AppContext.BaseDirectory}");
        var expected = Path.GetFullPath(Path.Combine(root, "..", "shared", "data", "tinyshakespeare.txt"));
        Assert.That(GptOptions.DefaultDataPath(AppContext.BaseDirectory), Is.EqualTo(expected));
        Assert.That(GptOptions.DefaultDataPath(root), Is.EqualTo(expected));
    }

    [Test]
    public void FullRecipe_2000Steps_ReachesPyTorchsValidationLoss()
    {
        if (Environment.GetEnvironmentVariable("AUTOGRAD_FULL_GPT") != "1")
        {
            Assert.Ignore("opt-in: set AUTOGRAD_FULL_GPT=1 (needs ../shared/data/tinyshakespeare.txt or AUTOGRAD_GPT_DATA; minutes)");
        }

        var path = Environment.GetEnvironmentVariable("AUTOGRAD_GPT_DATA") ?? GptOptions.DefaultDataPath(AppContext.BaseDirectory);
        var data = new CharData(File.ReadAllText(path));
        var generator = new Generator(1337);
        var model = new CharGpt(new GptConfig(data.Vocab), generator);
        Assert.That(model.Parameters().Sum(p => (long)p.Numel), Is.EqualTo(804_096));
        var threads = Tensor.NumThreads;
        GptRunResult result;
        try
        {
            Tensor.SetNumThreads(2);
            result = new GptJob(model, data.Train, 2000, generator).Run(data.Val);
        }
        finally
        {
            Tensor.SetNumThreads(threads);
        }

        TestContext.Out.WriteLine($"val loss {result.ValLoss:F4} over {result.ValTokens} positions, {result.MsPerStep:F1} ms/step, train loss (last 50) {result.TrainLossLast50:F4}");
        Assert.That(result.ValTokens, Is.EqualTo(111_488));
        Assert.That(result.ValLoss, Is.EqualTo(1.905).Within(0.02), "PyTorch: 1.9053");
    }
}
