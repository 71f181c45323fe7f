using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Autograd;
using Autograd.Data;
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
    the GPT job: dotnet run --project Autograd.Example -c Release -- gpt --help
    """;

int epochs = 3;
string? dataArg = null;
var outDir = "out";
ulong seed = 0;
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
    Console.WriteLine($"data: {dataDir} ({kind}): {train.Count:N0} training and {test.Count:N0} test images, loaded in {loadSeconds:F1} s");

    var model = LeNet5.Create(new Generator(seed));
    var job = new FashionMnistJob(model, train, test, seed);
    Console.WriteLine($"model: LeNet-5, {model.Parameters().Sum(p => p.Numel):N0} parameters; SGD lr {FashionMnistJob.LearningRate} momentum {FashionMnistJob.Momentum}, batch {FashionMnistJob.BatchSize}, {job.StepsPerEpoch} steps per epoch");
    Console.WriteLine(model.Summary([1, 1, 28, 28]));   // torchinfo's table: each layer's output shape and parameters

    var interactive = !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
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
            result = job.RunEpoch((step, loss, rate) =>
            {
                if (step % every == 0 || step == job.StepsPerEpoch)
                {
                    Console.WriteLine($"{label}  step {step,4}/{job.StepsPerEpoch}  loss {loss:F4}  {rate:F0} img/s");
                }
            });
        }

        results.Add(result);
        Console.WriteLine($"{label}: mean train loss {result.MeanTrainLoss:F4}, test accuracy {100 * result.TestAccuracy:F2}%, train {result.TrainSeconds:F1} s ({result.Batches * (double)FashionMnistJob.BatchSize / result.TrainSeconds:F0} img/s), eval {result.EvalSeconds:F2} s");
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
    Console.Error.WriteLine($"error: {ex.Message}");
    return 1;
}
