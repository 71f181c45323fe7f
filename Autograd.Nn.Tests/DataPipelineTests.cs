using Autograd.Data;

namespace Autograd.Nn.Tests;

public class DataPipelineTests
{
    private static TensorDataset<float> Numbered(int n) =>
        new(Tensor.FromArray(Enumerable.Range(0, n).Select(i => (float)i).ToArray(), [n, 1]), [.. Enumerable.Range(0, n).Select(i => i % 10)]);

    /// <summary>Sample i is ([i, i + 0.5], target [2i]), built on demand; counts its fetches and can be told to fail or to be slow.</summary>
    private sealed class Regression(int n, int failAt = -1, int delayMs = 0) : Dataset<(Tensor<float> X, Tensor<float> Y)>
    {
        private int _fetched;

        public int Fetched => Volatile.Read(ref _fetched);

        public List<int> Epochs { get; } = [];

        public override int Count => n;

        public override (Tensor<float> X, Tensor<float> Y) this[int index]
        {
            get
            {
                CheckIndex(index);
                Interlocked.Increment(ref _fetched);
                if (index == failAt)
                {
                    throw new InvalidDataException($"sample {index} is corrupt");
                }

                if (delayMs > 0)
                {
                    Thread.Sleep(delayMs);
                }

                return (Tensor.FromArray(new[] { index, index + 0.5f }, [2]), Tensor.FromArray(new[] { 2f * index }, [1]));
            }
        }

        public override void SetEpoch(int epoch)
        {
            base.SetEpoch(epoch);
            Epochs.Add(epoch);
        }
    }

    [Test]
    public void TensorDataset_IsADataset_AndTheGeneralLoaderGivesTheSameBatchesAsDataLoaderOfT()
    {
        Dataset<(Tensor<float> X, int Label)> data = Numbered(50);
        Assert.That(data.Count, Is.EqualTo(50));
        Assert.That(data[7].Label, Is.EqualTo(7));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = data[50]);
        var general = DataLoader.Create(data, 8, Collate.Default, shuffle: true, seed: 1000);
        var special = new DataLoader<float>(Numbered(50), 8, shuffle: true, seed: 1000, reuseBuffers: false);
        for (var epoch = 0; epoch < 2; epoch++)
        {
            var a = general.ToList();
            var b = special.ToList();
            Assert.That(a.Count, Is.EqualTo(7));
            Assert.That(a.Select(x => x.X.ToArray()), Is.EqualTo(b.Select(x => x.X.ToArray())), $"epoch {epoch}: the same SplitMix64 permutation");
            Assert.That(a.Select(x => x.Y), Is.EqualTo(b.Select(x => x.Y)));
            Assert.That(a[^1].X.Shape, Is.EqualTo(new[] { 2, 1 }));
        }

        Assert.That(DataLoader.Create(data, 8, Collate.Default, dropLast: true).Count(), Is.EqualTo(6));
    }

    [Test]
    public void DefaultCollate_StacksFloatAndMultiTensorTargets_AndScalars()
    {
        var regression = DataLoader.Create(new Regression(5), 2, Collate.Default);
        var batches = regression.ToList();
        Assert.That(batches.Select(b => b.X.Shape), Is.EqualTo(new[] { new[] { 2, 2 }, [2, 2], [1, 2] }));
        Assert.That(batches[1].X.ToArray(), Is.EqualTo(new[] { 2f, 2.5f, 3, 3.5f }));
        Assert.That(batches[1].Y.ToArray(), Is.EqualTo(new[] { 4f, 6 }));
        Assert.That(batches[1].Y.Shape, Is.EqualTo(new[] { 2, 1 }));

        var scalars = new ListDataset<(Tensor<double> X, double Y)>(Enumerable.Range(0, 3).Select(i => (Tensor.FromArray(new[] { (double)i }, [1]), i * 0.25)));
        var (x, y) = DataLoader.Create(scalars, 3, Collate.Default).Single();
        Assert.That(y.Shape, Is.EqualTo(new[] { 3 }));
        Assert.That(y.ToArray(), Is.EqualTo(new[] { 0, 0.25, 0.5 }));
        Assert.That(x.Shape, Is.EqualTo(new[] { 3, 1 }));

        var multi = new ListDataset<Tensor<float>[]>(Enumerable.Range(0, 4).Select(i => new[] { Tensor.Full([2, 2], (float)i), Tensor.Full([3], -i * 1f), Tensor.Full([1], 10f * i) }));
        var fields = DataLoader.Create(multi, 4, Collate.Default).Single();
        Assert.That(fields.Select(f => f.Shape), Is.EqualTo(new[] { new[] { 4, 2, 2 }, [4, 3], [4, 1] }));
        Assert.That(fields[2].ToArray(), Is.EqualTo(new[] { 0f, 10, 20, 30 }));

        var plain = new ListDataset<Tensor<float>>([Tensor.Ones<float>(2), Tensor.Zeros<float>(3)]);
        var error = Assert.Throws<ArgumentException>(() => DataLoader.Create(plain, 2, Collate.Default).First());
        Assert.That(error!.Message, Does.Contain("sample 1 has shape [3] but that of sample 0 has [2]"));
    }

    [Test]
    public void Workers_GiveTheSameBatchesInTheSameOrder_AsNoWorker([Values(1, 2, 3)] int workers)
    {
        var data = new Regression(37, delayMs: 0);
        var reference = DataLoader.Create(data, 4, Collate.Default, shuffle: true, seed: 9).Take(20).Select(b => b.X.ToArray()).ToList();
        var sequential = DataLoader.Create(data, 4, Collate.Default, shuffle: true, seed: 9);
        var threaded = DataLoader.Create(data, 4, Collate.Default, shuffle: true, seed: 9, numWorkers: workers, prefetchFactor: 1);
        for (var epoch = 0; epoch < 3; epoch++)
        {
            var a = sequential.Select(b => (b.X.ToArray(), b.Y.ToArray())).ToList();
            var b = threaded.Select(b => (b.X.ToArray(), b.Y.ToArray())).ToList();
            Assert.That(b, Has.Count.EqualTo(10));
            Assert.That(b.Select(t => t.Item1), Is.EqualTo(a.Select(t => t.Item1)), $"epoch {epoch}, {workers} workers");
            Assert.That(b.Select(t => t.Item2), Is.EqualTo(a.Select(t => t.Item2)));
        }

        Assert.That(reference[0], Is.Not.EqualTo(DataLoader.Create(data, 4, Collate.Default, shuffle: true, seed: 10).First().X.ToArray()), "the seed matters");
    }

    [Test]
    public void Workers_WithSlowAndUnevenSamples_StillKeepTheOrder()
    {
        // Worker 0 gets the slow samples: batches from worker 1 finish first but must wait their turn.
        var slow = new SlowEven(24);
        var batches = DataLoader.Create(slow, 2, Collate.Default, numWorkers: 2).Select(b => b.ToArray()).ToList();
        Assert.That(batches.SelectMany(b => b), Is.EqualTo(Enumerable.Range(0, 24).Select(i => (float)i)));
    }

    private sealed class SlowEven(int n) : Dataset<Tensor<float>>
    {
        public override int Count => n;

        public override Tensor<float> this[int index]
        {
            get
            {
                if (index / 2 % 2 == 0)
                {
                    Thread.Sleep(5);
                }

                return Tensor.FromArray(new[] { (float)index }, [1]);
            }
        }
    }

    [Test]
    public void AWorkersException_SurfacesOnTheConsumer_WithItsTypeAndMessage_AfterTheBatchesBeforeIt()
    {
        var loader = DataLoader.Create(new Regression(40, failAt: 13), 4, Collate.Default, numWorkers: 2);
        var seen = new List<float[]>();
        // On a thread of its own with a deadline: a dropped worker exception would otherwise hang the suite.
        var epoch = Task.Run(() =>
        {
            foreach (var (x, _) in loader)
            {
                seen.Add(x.ToArray());
            }
        });
        Assert.That(() => epoch.Wait(TimeSpan.FromSeconds(30)), Throws.InstanceOf<AggregateException>(), "the epoch must end with the worker's exception, not hang");
        var error = epoch.Exception!.InnerException as InvalidDataException;
        Assert.That(error, Is.Not.Null, $"got {epoch.Exception.InnerException?.GetType().Name}");
        Assert.That(error!.Message, Is.EqualTo("sample 13 is corrupt"));
        Assert.That(seen, Has.Count.EqualTo(3), "batches 0-2 come first; batch 3 holds sample 13");
        Assert.That(loader.Select(b => b.X).Take(2).Count(), Is.EqualTo(2), "the next epoch starts afresh");

        var inline = DataLoader.Create(new Regression(40, failAt: 13), 4, Collate.Default);
        Assert.That(Assert.Throws<InvalidDataException>(() => inline.ToList())!.Message, Is.EqualTo("sample 13 is corrupt"));
    }

    [Test]
    public void BreakingOutOfAnEpoch_StopsTheWorkers_AndPrefetchIsBounded()
    {
        var data = new Regression(4000);
        var loader = DataLoader.Create(data, 10, Collate.Default, numWorkers: 2, prefetchFactor: 2);
        foreach (var _ in loader)
        {
            // Give the workers time to run as far ahead as they may: batch 0 taken, then per worker two batches
            // waiting in its queue and one finished but blocked, 1 + 2·(2 + 1) = 7 batches of 10 samples.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (data.Fetched < 70 && clock.ElapsedMilliseconds < 5000)
            {
                Thread.Sleep(10);
            }

            Thread.Sleep(50);
            break;
        }

        var after = data.Fetched;
        Assert.That(after, Is.EqualTo(70), "the workers run ahead, and no further than prefetchFactor allows");
        Thread.Sleep(100);
        Assert.That(data.Fetched, Is.EqualTo(after), "no worker runs after the enumeration is disposed");
    }

    [Test]
    public void Loader_TellsTheDatasetTheEpoch_AndChecksItsArguments()
    {
        var data = new Regression(6);
        var loader = DataLoader.Create(data, 4, Collate.Default, numWorkers: 1);
        loader.ToList();
        loader.Epoch = 5;
        loader.ToList();
        Assert.That(data.Epochs, Is.EqualTo(new[] { 0, 5 }));
        Assert.That(loader.Epoch, Is.EqualTo(6));
        Assert.That(Assert.Throws<ArgumentException>(() => DataLoader.Create(data, 4, Collate.Default, prefetchFactor: 2))!.Message, Does.Contain("prefetchFactor 2 needs numWorkers > 0"));
        Assert.That(Assert.Throws<ArgumentException>(() => DataLoader.Create(data, 0, Collate.Default))!.Message, Does.Contain("batch size must be positive"));
        Assert.Throws<ArgumentException>(() => DataLoader.Create(data, 2, Collate.Default, numWorkers: -1));
        Assert.Throws<ArgumentException>(() => DataLoader.Create(data, 2, Collate.Default, shuffle: true, sampler: new SequentialSampler(6)));
        var sampled = DataLoader.Create(data, 4, Collate.Default, sampler: new RandomSampler(6, seed: 3));
        Assert.That(sampled.SelectMany(b => b.X.ToArray().Where((_, i) => i % 2 == 0)), Is.EqualTo(RandomSampler.Permutation(6, 3).Select(i => (float)i)));
    }

    private static Tensor<float> Image(int c, int h, int w) =>
        Tensor.FromArray(Enumerable.Range(1, c * h * w).Select(v => (float)v).ToArray(), [c, h, w]);

    [Test]
    public void RandomCrop_WithPadding_IsTheWindowOfThePaddedImage_AsTorchvision()
    {
        // A 2×3×4 image (values 1..24) padded by 2 with fill -1 is 2×7×8; a 3×5 crop at (i, j) is padded[:, i:i+3, j:j+5].
        var image = Image(2, 3, 4);
        var crop = new RandomCrop<float>((3, 5), padding: 2, fill: -1);
        var seen = new HashSet<(int, int)>();
        for (ulong seed = 0; seed < 40; seed++)
        {
            // torchvision's get_params: i = randint(0, H' − h + 1), then j = randint(0, W' − w + 1).
            var probe = new Generator(seed);
            var (i, j) = (probe.NextInt(7 - 3 + 1), probe.NextInt(8 - 5 + 1));
            seen.Add((i, j));
            var output = crop.Apply(image, new Generator(seed));
            Assert.That(output.Shape, Is.EqualTo(new[] { 2, 3, 5 }));
            var expected = new float[2 * 3 * 5];
            for (var c = 0; c < 2; c++)
            {
                for (var y = 0; y < 3; y++)
                {
                    for (var x = 0; x < 5; x++)
                    {
                        var (sy, sx) = (i + y - 2, j + x - 2);
                        expected[(c * 3 + y) * 5 + x] = sy is >= 0 and < 3 && sx is >= 0 and < 4 ? 1 + (c * 3 + sy) * 4 + sx : -1;
                    }
                }
            }

            Assert.That(output.ToArray(), Is.EqualTo(expected), $"seed {seed}, window at ({i}, {j})");
        }

        Assert.That(seen.Count, Is.GreaterThan(10), "the window moves");
        Assert.That(new RandomCrop<float>(4, padding: 0).Apply(Image(1, 4, 4), new Generator(1)).ToArray(), Is.EqualTo(Image(1, 4, 4).ToArray()), "full size: the image itself");
        Assert.That(Assert.Throws<ArgumentException>(() => new RandomCrop<float>(6).Apply(Image(1, 4, 4), new Generator(1)))!.Message, Does.Contain("crop size (6, 6) is larger than the padded image (4, 4)"));
    }

    [Test]
    public void RandomHorizontalFlip_MirrorsExactly_WithProbabilityP()
    {
        var image = Image(2, 2, 3);
        var always = new RandomHorizontalFlip<float>(1).Apply(image, new Generator(0));
        Assert.That(always.ToArray(), Is.EqualTo(new float[] { 3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10 }));
        Assert.That(new RandomHorizontalFlip<float>(0).Apply(image, new Generator(0)).ToArray(), Is.EqualTo(image.ToArray()));
        Assert.That(new RandomHorizontalFlip<float>(1).Apply(always, new Generator(0)).ToArray(), Is.EqualTo(image.ToArray()), "flip twice is the identity");
        var flips = 0;
        for (ulong seed = 0; seed < 400; seed++)
        {
            var probe = new Generator(seed);
            var expectFlip = probe.NextDouble() < 0.5;
            var output = new RandomHorizontalFlip<float>().Apply(image, new Generator(seed)).ToArray();
            Assert.That(output, Is.EqualTo(expectFlip ? always.ToArray() : image.ToArray()));
            flips += expectFlip ? 1 : 0;
        }

        Assert.That(flips, Is.InRange(160, 240));
        Assert.That(image.ToArray()[0], Is.EqualTo(1f), "the input is not modified");
    }

    [Test]
    public void Normalize_IsPerChannel_AndCompose_ChainsWithOneGenerator()
    {
        var image = Image(2, 1, 2);  // channel 0: 1, 2; channel 1: 3, 4
        var normalized = new Normalize<float>([1, 2], [2, 0.5]).Apply(image);
        Assert.That(normalized.ToArray(), Is.EqualTo(new[] { 0f, 0.5f, 2, 4 }));
        Assert.That(new Normalize<float>([1], [2]).Apply(Image(1, 1, 2).Reshape(1, 1, 1, 2)).ToArray(), Is.EqualTo(new[] { 0f, 0.5f }), "a batch [B, C, H, W] and a shared mean");
        Assert.That(Assert.Throws<ArgumentException>(() => new Normalize<float>([0, 0, 0], [1, 1, 1]).Apply(image))!.Message, Does.Contain("3 mean values for an image of 2 channels"));
        Assert.Throws<ArgumentException>(() => new Normalize<float>([0], [0]));

        var composed = new Compose<float>(new RandomCrop<float>(2, padding: 1), new RandomHorizontalFlip<float>(), new Normalize<float>([0.5], [2]));
        var g = new Generator(3);
        var expected = new Normalize<float>([0.5], [2]).Apply(new RandomHorizontalFlip<float>().Apply(new RandomCrop<float>(2, padding: 1).Apply(Image(1, 3, 3), g), g));
        Assert.That(composed.Apply(Image(1, 3, 3), new Generator(3)).ToArray(), Is.EqualTo(expected.ToArray()));
    }

    [Test]
    public void TransformDataset_IsReproducible_VariesByEpoch_AndIgnoresWorkers()
    {
        var images = new TensorDataset<float>(Tensor.FromArray(Enumerable.Range(0, 16 * 9).Select(v => (float)v).ToArray(), [16, 1, 3, 3]), [.. Enumerable.Range(0, 16)]);
        var augment = new Compose<float>(new RandomCrop<float>(3, padding: 1), new RandomHorizontalFlip<float>());
        List<float[]> Epochs(int workers, ulong seed, bool shuffle = false)
        {
            var loader = DataLoader.Create(new TransformDataset<float, int>(images, augment, seed), 4, Collate.Default, shuffle: shuffle, seed: 2, numWorkers: workers);
            return [.. Enumerable.Range(0, 3).Select(_ => loader.SelectMany(b => b.X.ToArray()).ToArray())];
        }

        var a = Epochs(0, 11);
        Assert.That(Epochs(0, 11), Is.EqualTo(a), "the same seed gives the same samples");
        Assert.That(Epochs(3, 11), Is.EqualTo(a), "whatever the number of workers");
        Assert.That(a[1], Is.Not.EqualTo(a[0]), "each epoch draws anew (same order, other augmentations)");
        Assert.That(Epochs(2, 11, shuffle: true), Is.EqualTo(Epochs(0, 11, shuffle: true)), "shuffled, with and without workers");
        Assert.That(Epochs(0, 12)[0], Is.Not.EqualTo(a[0]), "the seed matters");
        var dataset = new TransformDataset<float, int>(images, augment, 11);
        Assert.That(dataset[5].Label, Is.EqualTo(5));
        Assert.That(dataset[5].X.Shape, Is.EqualTo(new[] { 1, 3, 3 }));
    }
}
