using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Autograd;
using Autograd.Data;
using Autograd.Distributed;
using Autograd.Example;
using Autograd.Nn;
using Spectre.Console;

// The main job: LeNet-5 on Fashion-MNIST with the recipe of WORKLOADS.md §7 (the peers' run), a live
// progress bar per epoch, test accuracy after each epoch, the weights as safetensors, an SVG plot.
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
if (args is ["gpt", ..])
{
    // The transformer job: gpt_char.py's character-level GPT (GptProgram.cs).
    return GptProgram.Run(args[1..]);
}

const string SystemData = "/usr/share/datasets/fashion-mnist";
const string Usage = """
    usage: dotnet run --project Autograd.Example -c Release -- [--epochs N] [--data DIR] [--out DIR] [--seed S]
      --epochs N   epochs to train (default 3, the recipe)
      --data DIR   directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
                   (default: /usr/share/datasets/fashion-mnist, else the sample shipped in the repo)
      --out DIR    where the weights, the plot and results.json go (default: out)
      --seed S     seeds the initial weights (Generator(S)) and the shuffle (SplitMix64 state 1000 + S + epoch); default 0
      --distributed  data-parallel over the ranks of mpirun (docs/distributed.md): the same global batch of 64
                   split between the ranks, gradients averaged; rank 0 prints and saves:
                   mpirun --allow-run-as-root -np 2 dotnet Autograd.Example/bin/Release/net10.0/Autograd.Example.dll --distributed
    the GPT job: dotnet run --project Autograd.Example -c Release -- gpt --help
    """;

int epochs = 3;
string? dataArg = null;
var outDir = "out";
ulong seed = 0;
var distributed = false;
for (var i = 0; i < args.Length; i++)
{
    string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
    try
    {
        switch (args[i])
        {
            case "--epochs":
                var e = Value();
                epochs = int.TryParse(e, out var n) && n >= 1 ? n : throw new ArgumentException($"--epochs must be a positive integer, got '{e}'.");
                break;
            case "--data":
                dataArg = Value();
                break;
            case "--out":
                outDir = Value();
                break;
            case "--seed":
                var s = Value();
                seed = ulong.TryParse(s, out var v) ? v : throw new ArgumentException($"--seed must be a non-negative integer, got '{s}'.");
                break;
            case "--distributed":
                distributed = true;
                break;
            case "-h" or "--help":
                Console.WriteLine(Usage);
                return 0;
            default:
                throw new ArgumentException($"unknown option '{args[i]}'.");
        }
    }
    catch (ArgumentException ex)
    {
        Console.Error.WriteLine($"error: {ex.Message}\n{Usage}");
        return 2;
    }
}

// Distributed: every rank runs this program; rank 0 alone prints and writes files (Say, SaveOnRankZero).
var group = distributed ? ProcessGroup.World : null;
var main = group?.IsMain ?? true;
void Say(string line)
{
    if (main)
    {
        Console.WriteLine(line);
    }
}

// The mean over ranks of a per-rank figure (a loss over this rank's half of the batch); every rank calls it.
double AcrossRanks(double value)
{
    double[] v = [value];
    group?.AllReduce<double>(v, ReduceOp.Average);
    return v[0];
}

try
{
    var sample = Path.Combine(AppContext.BaseDirectory, "data");
    var (dataDir, kind) = dataArg is not null ? (dataArg, "--data")
        : FashionMnist.Exists(SystemData) ? (SystemData, "Debian's dataset-fashion-mnist")
        : (sample, "the sample shipped in the repo; install dataset-fashion-mnist or pass --data DIR for the full set");
    if (!FashionMnist.Exists(dataDir))
    {
        throw new FileNotFoundException($"no Fashion-MNIST files in '{dataDir}' (expected {{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte[.gz]).");
    }

    var load = Stopwatch.StartNew();
    var train = FashionMnist.Load<float>(dataDir, train: true);
    var test = FashionMnist.Load<float>(dataDir, train: false);
    var loadSeconds = load.Elapsed.TotalSeconds;
    Say($"data: {dataDir} ({kind}): {train.Count:N0} training and {test.Count:N0} test images, loaded in {loadSeconds:F1} s");

    var model = LeNet5.Create(new Generator(seed));
    DistributedDataParallel<float>? ddp = null;
    FashionMnistJob job;
    if (group is null)
    {
        job = new FashionMnistJob(model, train, test, seed);
    }
    else
    {
        if (FashionMnistJob.BatchSize % group.WorldSize != 0)
        {
            throw new ArgumentException($"--distributed: the global batch of {FashionMnistJob.BatchSize} does not split evenly over {group.WorldSize} ranks.");
        }

        // The same shuffle as one process (state 1000 + seed + epoch), rank r taking every WorldSize-th
        // sample from r: the ranks' batches of 64 / WorldSize make up exactly the single process's batch.
        ddp = new DistributedDataParallel<float>(model, group);
        var sampler = new DistributedSampler(train.Count, shuffle: true, seed: FashionMnistJob.ShuffleSeed + seed);
        job = new FashionMnistJob(model, train, test, seed, sampler, FashionMnistJob.BatchSize / group.WorldSize, ddp);
        Say($"distributed: {group.WorldSize} ranks{(ProcessGroup.IsLaunchedByMpirun ? "" : " (not started by mpirun)")}, {FashionMnistJob.BatchSize / group.WorldSize} images per rank per step, {ddp.BucketCount} gradient bucket(s), {Tensor.NumThreads} thread(s) per rank");
    }

    Say($"model: LeNet-5, {model.Parameters().Sum(p => p.Numel):N0} parameters; SGD lr {FashionMnistJob.LearningRate} momentum {FashionMnistJob.Momentum}, batch {FashionMnistJob.BatchSize}, {job.StepsPerEpoch} steps per epoch");
    Say(model.Summary([1, 1, 28, 28]).ToString());   // torchinfo's table: each layer's output shape and parameters

    var interactive = group is null && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
    var results = new List<EpochResult>();
    for (var epoch = 1; epoch <= epochs; epoch++)
    {
        var label = $"epoch {epoch}/{epochs}";
        EpochResult result;
        if (interactive)
        {
            result = null!;
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(label, maxValue: job.StepsPerEpoch);
                    result = job.RunEpoch((step, loss, rate) =>
                    {
                        task.Value = step;
                        task.Description = $"{label}  step {step,4}/{job.StepsPerEpoch}  loss {loss:F4}  {rate,6:F0} img/s";
                    });
                });
        }
        else
        {
            var every = Math.Max(1, job.StepsPerEpoch / 10);
            var ranks = group?.WorldSize ?? 1;
            result = job.RunEpoch((step, loss, rate) =>
            {
                if (step % every == 0 || step == job.StepsPerEpoch)
                {
                    Say($"{label}  step {step,4}/{job.StepsPerEpoch}  loss {AcrossRanks(loss):F4}  {rate * ranks:F0} img/s");
                }
            });
        }

        if (group is not null)
        {
            result = result with { MeanTrainLoss = AcrossRanks(result.MeanTrainLoss) };
        }

        results.Add(result);
        Say($"{label}: mean train loss {result.MeanTrainLoss:F4}, test accuracy {100 * result.TestAccuracy:F2}%, train {result.TrainSeconds:F1} s ({result.Batches * (double)FashionMnistJob.BatchSize / result.TrainSeconds:F0} img/s), eval {result.EvalSeconds:F2} s");
    }

    if (ddp is not null)
    {
        // The time rank 0 spent blocked on gradient all-reduces after backward, over its training time.
        var wait = ddp.CommunicationWaitTime.TotalSeconds;
        var trainTotal = results.Sum(r => r.TrainSeconds);
        Say($"communication: {wait:F1} s of {trainTotal:F1} s training spent waiting for all-reduces on rank 0 ({100 * wait / trainTotal:F1} % of step time)");
    }

    if (!main)
    {
        return 0;
    }

    Directory.CreateDirectory(outDir);
    var weights = Path.Combine(outDir, "lenet5.safetensors");
    model.SaveSafeTensors(weights, new Dictionary<string, string> { ["model"] = "LeNet-5", ["dataset"] = "Fashion-MNIST", ["epochs"] = epochs.ToString() });
    var plot = Path.Combine(outDir, "training.svg");
    SvgPlot.Write(plot, results, $"LeNet-5 on Fashion-MNIST ({train.Count:N0} training images)");
    var json = Path.Combine(outDir, "results.json");
    File.WriteAllText(json, JsonSerializer.Serialize(new
    {
        peer = "autograd",
        data = dataDir,
        train = new
        {
            load_s = Math.Round(loadSeconds, 3),
            epochs = results.Select(r => new { epoch = r.Epoch, train_s = Math.Round(r.TrainSeconds, 3), mean_train_loss = Math.Round(r.MeanTrainLoss, 5), test_acc = Math.Round(r.TestAccuracy, 5), eval_s = Math.Round(r.EvalSeconds, 3), batches = r.Batches }),
        },
    }, new JsonSerializerOptions { WriteIndented = true }));
    Console.WriteLine($"saved: {weights}, {plot}, {json}");
    Console.WriteLine($"test accuracy: {100 * results[^1].TestAccuracy:F2}%");
    return 0;
}
catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
{
    if (group is { WorldSize: > 1 })
    {
        // The other ranks would wait for this one in their next all-reduce: end them all.
        group.Abort(1, $"error: {ex.Message}");
    }

    Console.Error.WriteLine($"error: {ex.Message}");
    return 1;
}
