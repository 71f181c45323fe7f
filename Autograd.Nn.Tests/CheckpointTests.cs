using Autograd.Data;
using Autograd.Optim;

namespace Autograd.Nn.Tests;

/// <summary>
/// A run resumed from a checkpoint (written mid-training, loaded into fresh objects) ends with the same parameters,
/// bit for bit, as the run that never stopped: the shuffle (loader epoch), the Dropout masks (generator state), the
/// optimiser's moments and the scheduler's position all have to come back.
/// </summary>
public class CheckpointTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("autograd-ckpt-").FullName;

    [TearDown]
    public void TearDown()
    {
        Directory.Delete(_dir, recursive: true);
        Tensor.ManualSeed(0);
    }

    private static TensorDataset<float> Data()
    {
        var g = new Generator(77);
        return new TensorDataset<float>(Tensor.Randn<float>([40, 4], g), [.. Enumerable.Range(0, 40).Select(_ => g.NextInt(3))]);
    }

    private static Sequential<float> Model() => new(new Linear<float>(4, 16), new ReLU<float>(), new Dropout<float>(0.3), new Linear<float>(16, 3));

    public sealed record Run(Sequential<float> Model, Optimizer<float> Optimizer, LRScheduler? Scheduler, IDataLoader Loader, IEnumerable<Batch<float>> Batches);

    private static Run SgdRun(ulong seed)
    {
        Tensor.ManualSeed(seed);
        var model = Model();
        var sgd = new SGD<float>(model.Parameters(), lr: 0.05, momentum: 0.9, weightDecay: 1e-3);
        var loader = new DataLoader<float>(Data(), 8, shuffle: true, seed: 3);
        return new Run(model, sgd, new StepLR(sgd, stepSize: 2, gamma: 0.5), loader, loader);
    }

    private static Run AdamWRun(ulong seed)
    {
        Tensor.ManualSeed(seed);
        var model = Model();
        var adamw = new AdamW<float>(model.Parameters(), lr: 0.01);
        var warmup = new LinearLR(adamw, startFactor: 0.2, totalIters: 5);
        var cosine = new CosineAnnealingLR(adamw, tMax: 20);
        var scheduler = new SequentialLR(adamw, [warmup, cosine], [5]);
        var loader = DataLoader.Create(Data(), 8, Collate.Default, shuffle: true, seed: 4, numWorkers: 2);
        return new Run(model, adamw, scheduler, loader, loader);
    }

    /// <summary>Epochs of training; the SGD run steps its scheduler per epoch, the AdamW run per batch.</summary>
    private static void Train(Run run, int epochs, bool perBatch)
    {
        for (var e = 0; e < epochs; e++)
        {
            foreach (var batch in run.Batches)
            {
                run.Optimizer.ZeroGrad();
                run.Model.Forward(batch.X).CrossEntropy(batch.Y).Backward();
                run.Optimizer.Step();
                if (perBatch)
                {
                    run.Scheduler?.Step();
                }
            }

            if (!perBatch)
            {
                run.Scheduler?.Step();
            }
        }
    }

    private static float[][] Weights(Run run) => [.. run.Model.Parameters().Select(p => p.ToArray())];

    private static IEnumerable<TestCaseData> Runs()
    {
        yield return new TestCaseData(new Func<ulong, Run>(SgdRun), false).SetName("SGD momentum, StepLR per epoch, DataLoader<T>");
        yield return new TestCaseData(new Func<ulong, Run>(AdamWRun), true).SetName("AdamW, warmup then cosine per batch, two loader workers");
    }

    [TestCaseSource(nameof(Runs))]
    public void ResumingFromACheckpoint_GivesTheUninterruptedRunsParameters_BitForBit(Func<ulong, Run> make, bool perBatch)
    {
        var straight = make(5);
        Train(straight, 4, perBatch);

        var first = make(5);
        Train(first, 2, perBatch);
        var path = Path.Combine(_dir, "run.safetensors");
        Checkpoint.Save(path, first.Model, first.Optimizer, first.Scheduler, epoch: 2, first.Loader);
        Train(first, 2, perBatch);
        Assert.That(Weights(first), Is.EqualTo(Weights(straight)), "the save itself changes nothing");

        // A new process: other seed, fresh objects; the checkpoint brings back everything.
        var resumed = make(123);
        var info = Checkpoint.Load(path, resumed.Model, resumed.Optimizer, resumed.Scheduler, resumed.Loader);
        Assert.That(info.Epoch, Is.EqualTo(2));
        Assert.That(resumed.Loader.Epoch, Is.EqualTo(2));
        Train(resumed, 4 - info.Epoch, perBatch);
        Assert.That(Weights(resumed), Is.EqualTo(Weights(straight)));

        // Each part matters: without the generator's state the Dropout masks differ; without the loader's epoch the shuffle does.
        var noRng = make(123);
        Checkpoint.Load(path, noRng.Model, noRng.Optimizer, noRng.Scheduler, noRng.Loader, generators: [new Generator(0)]);
        Train(noRng, 2, perBatch);
        Assert.That(Weights(noRng), Is.Not.EqualTo(Weights(straight)), "the generator state is needed");
        var noLoader = make(123);
        Checkpoint.Load(path, noLoader.Model, noLoader.Optimizer, noLoader.Scheduler);
        Train(noLoader, 2, perBatch);
        Assert.That(Weights(noLoader), Is.Not.EqualTo(Weights(straight)), "the loader's epoch is needed");
    }

    [Test]
    public void TheFile_IsSafetensorsWithJsonMetadata()
    {
        var run = AdamWRun(1);
        Train(run, 1, perBatch: true);
        var path = Path.Combine(_dir, "a.safetensors");
        Checkpoint.Save(path, run.Model, run.Optimizer, run.Scheduler, epoch: 1, run.Loader, metadata: new Dictionary<string, string> { ["note"] = "hello" });
        var tensors = SafeTensors.Load<float>(path);
        Assert.That(tensors.Keys, Does.Contain("model.0.weight").And.Contain("optimizer.state.0.exp_avg").And.Contain("optimizer.state.3.exp_avg_sq"));
        var metadata = SafeTensors.LoadMetadata(path);
        Assert.That(metadata["format"], Is.EqualTo(Checkpoint.Format));
        Assert.That(metadata["note"], Is.EqualTo("hello"));
        Assert.That(metadata["optimizer"], Does.Contain("\"type\":\"AdamW\"").And.Contain("\"step\":5"));
        Assert.That(metadata["scheduler"], Does.Contain("\"last_epoch\":5"));
        Assert.That(Directory.GetFiles(_dir), Has.Length.EqualTo(1), "no temporary file is left behind");
    }

    [Test]
    public void Load_ChecksBeforeChanging_AndNamesTheProblem()
    {
        var run = SgdRun(1);
        Train(run, 1, perBatch: false);
        var path = Path.Combine(_dir, "sgd.safetensors");
        Checkpoint.Save(path, run.Model, run.Optimizer, run.Scheduler, epoch: 1);

        var adam = AdamWRun(2);
        var before = Weights(adam);
        var error = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path, adam.Model, adam.Optimizer))!;
        Assert.That(error.Message, Does.Contain("holds the state of SGD but the optimiser given is AdamW"));
        Assert.That(Weights(adam), Is.EqualTo(before), "the model was not loaded either");
        Assert.That(Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path, adam.Model, loader: adam.Loader))!.Message, Does.Contain("no loader epoch"));

        var wide = new Sequential<float>(new Linear<float>(4, 8));
        var sgd = new SGD<float>(wide.Parameters(), lr: 0.1);
        Assert.Throws<StateDictException>(() => Checkpoint.Load(path, wide, sgd));
        Assert.That(sgd.ParamGroups[0].Lr, Is.EqualTo(0.1));

        var weights = Path.Combine(_dir, "weights.safetensors");
        run.Model.SaveSafeTensors(weights);
        Assert.That(Assert.Throws<InvalidDataException>(() => Checkpoint.Load(weights, run.Model))!.Message, Does.Contain("no 'format' entry"));
        var broken = Path.Combine(_dir, "broken.safetensors");
        var metadata = SafeTensors.LoadMetadata(path).ToDictionary();
        metadata["optimizer"] = metadata["optimizer"].Replace("\"param_groups\"", "\"groups\"");
        SafeTensors.Save(broken, SafeTensors.Load<float>(path), metadata);
        Assert.That(Assert.Throws<InvalidDataException>(() => Checkpoint.Load(broken, run.Model, run.Optimizer))!.Message, Does.Contain("the 'optimizer' entry is malformed (no 'param_groups')"));
    }
}
