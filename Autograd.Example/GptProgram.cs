using System.Diagnostics;
using System.Text.Json;
using Autograd.Distributed;
using Autograd.Nn;
using Spectre.Console;

namespace Autograd.Example;

/// <summary>
/// The <c>gpt</c> verb: gpt_char.py's recipe on a text, with a live progress bar (plain lines every 100 steps when
/// output is redirected), the validation loss on the whole split, a sample, <c>gpt.safetensors</c> and
/// <c>results.json</c> (the script's keys), and last the line <c>val loss: N</c>.
/// </summary>
public static class GptProgram
{
    public const int SampleLength = 500;
    public const double SampleTemperature = 0.8;
    public const int SampleTopK = 40;

    public static int Run(string[] args)
    {
        var (options, message, exitCode) = GptOptions.Parse(args, GptOptions.DefaultDataPath(AppContext.BaseDirectory));
        if (options is null)
        {
            (exitCode == 0 ? Console.Out : Console.Error).WriteLine(message);
            return exitCode;
        }

        try
        {
            return Train(options);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            if (options.Distributed && ProcessGroup.World.WorldSize > 1)
            {
                ProcessGroup.World.Abort(1, $"error: {ex.Message}");
            }

            Console.Error.WriteLine($"error: {ex.Message}");
            return 1;
        }
    }

    private static int Train(GptOptions options)
    {
        var wall = Stopwatch.StartNew();
        Tensor.SetNumThreads(options.Threads);
        var data = new CharData(File.ReadAllText(options.Data));
        var generator = new Generator(options.Seed);
        var model = new CharGpt(new GptConfig(data.Vocab), generator);
        var parameters = model.Parameters().Sum(p => (long)p.Numel);

        // Distributed: the same seed on every rank (same weights, same batch offsets), rank r training on its
        // share of each batch; the DistributedDataParallel hooks average the gradients before clipping and
        // the step. Rank 0 alone prints and saves.
        var group = options.Distributed ? ProcessGroup.World : null;
        var ddp = group is null ? null : new DistributedDataParallel<float>(model, group);
        var main = group?.IsMain ?? true;
        var console = main ? Console.Out : TextWriter.Null;
        console.WriteLine($"autograd: .NET {Environment.Version}, {parameters:N0} parameters, vocab {data.Vocab}, {data.Train.Length:N0} train / {data.Val.Length:N0} val characters, {options.Threads} threads{(group is null ? "" : $" per rank, {group.WorldSize} ranks")}");
        console.WriteLine($"data: {options.Data}; {options.Iters} AdamW steps, batch {GptJob.BatchSize} × {GptJob.BlockSize}, seed {options.Seed} (the engine's Generator)");

        var job = new GptJob(model, data.Train, options.Iters, generator, group?.Rank ?? 0, group?.WorldSize ?? 1);
        var recent = new List<double>();
        GptRunResult result;
        if (group is null && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive)
        {
            result = null!;
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("training", maxValue: options.Iters);
                    result = job.Run(data.Val, (step, loss, ms) =>
                    {
                        var median = Recent(recent, ms);
                        task.Value = step;
                        task.Description = $"step {step,5}/{options.Iters}  loss {loss:F4}  {median,6:F1} ms/step  {GptJob.BatchSize * GptJob.BlockSize / median * 1e3,6:F0} tokens/s";
                        if (step == options.Iters)
                        {
                            task.Description = $"trained {step} steps; validation loss on the whole split...";
                        }
                    });
                });
        }
        else
        {
            result = job.Run(data.Val, (step, loss, ms) =>
            {
                var median = Recent(recent, ms);
                if (step % 100 == 0 || step == 1)
                {
                    // Every rank reduces at the same steps: the loss over the whole batch.
                    double[] l = [loss];
                    group?.AllReduce<double>(l, ReduceOp.Average);
                    console.WriteLine($"step {step}/{options.Iters}  loss {l[0]:F4}  {median:F1} ms/step");
                }
            });
        }

        console.WriteLine($"train: {result.TotalTrainSeconds:F1} s, {result.MsPerStep:F2} ms/step (median of steps 20..{options.Iters}, min {result.MsPerStepMin:F2}), {result.TokensPerSecond:F0} tokens/s, train loss (last 50) {result.TrainLossLast50:F4}");
        console.WriteLine($"val: {result.ValTokens:N0} positions in {result.ValSeconds:F1} s");
        if (ddp is not null)
        {
            var wait = ddp.CommunicationWaitTime.TotalSeconds;
            console.WriteLine($"communication: {wait:F1} s of {result.TotalTrainSeconds:F1} s training spent waiting for all-reduces on rank 0 ({100 * wait / result.TotalTrainSeconds:F1} % of step time)");
        }

        if (!main)
        {
            return 0;
        }

        var prompt = new[] { data.TokenOf('\n') ?? 0 };
        var sample = data.Decode(GptJob.Sample(model, prompt, SampleLength, SampleTemperature, SampleTopK, generator));
        Console.WriteLine($"sample ({SampleLength} characters, temperature {SampleTemperature}, top-k {SampleTopK}):");
        Console.WriteLine(sample);

        Directory.CreateDirectory(options.Out);
        var weights = Path.Combine(options.Out, "gpt.safetensors");
        model.SaveSafeTensors(weights, new Dictionary<string, string> { ["model"] = "gpt_char.py", ["iters"] = options.Iters.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        var json = Path.Combine(options.Out, "results.json");
        File.WriteAllText(json, JsonSerializer.Serialize(Results(options, model.Config, result, parameters, sample, wall.Elapsed.TotalSeconds), new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"saved: {weights}, {json} ({wall.Elapsed.TotalSeconds:F1} s in all)");
        Console.WriteLine($"val loss: {result.ValLoss:F4}");
        return 0;
    }

    /// <summary>The median of the last 100 step times (the script's progress line), after adding <paramref name="ms"/>.</summary>
    private static double Recent(List<double> recent, double ms)
    {
        recent.Add(ms);
        if (recent.Count > 100)
        {
            recent.RemoveAt(0);
        }

        return GptJob.Median(recent);
    }

    /// <summary>The script's JSON object, with "peer": "autograd" and the runtime in place of the torch version.</summary>
    private static Dictionary<string, object> Results(GptOptions options, GptConfig config, GptRunResult r, long parameters, string sample, double wallSeconds) => new()
    {
        ["peer"] = "autograd",
        ["dotnet"] = Environment.Version.ToString(),
        ["threads"] = options.Threads,
        ["iters"] = options.Iters,
        ["params"] = parameters,
        ["recipe"] = new Dictionary<string, object>
        {
            ["n_layer"] = config.Layers, ["n_head"] = config.Heads, ["n_embd"] = config.Embd, ["block"] = config.Block, ["batch"] = GptJob.BatchSize,
            ["lr"] = GptJob.LearningRate, ["min_lr"] = GptJob.MinLr, ["warmup"] = GptJob.Warmup, ["betas"] = new[] { GptJob.Beta1, GptJob.Beta2 },
            ["weight_decay"] = GptJob.WeightDecay, ["grad_clip"] = GptJob.GradClip, ["dropout"] = 0.0, ["bias"] = false, ["tied"] = true,
        },
        ["ms_per_step"] = r.MsPerStep,
        ["ms_per_step_min"] = r.MsPerStepMin,
        ["tokens_per_s"] = r.TokensPerSecond,
        ["train_loss_last50"] = r.TrainLossLast50,
        ["val_loss"] = r.ValLoss,
        ["val_tokens"] = r.ValTokens,
        ["val_s"] = r.ValSeconds,
        ["total_train_s"] = r.TotalTrainSeconds,
        ["wall_s"] = wallSeconds,
        ["seed"] = options.Seed,
        ["data"] = options.Data,
        ["sample"] = sample,
    };
}
