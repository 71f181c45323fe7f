using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using Autograd.Data;
using Autograd.Nn;
using Autograd.Optim;

namespace Autograd.Distributed.Tests;

/// <summary>
/// What each rank runs under mpirun for <see cref="MultiProcessTests"/>. Rank 0 prints one line per check,
/// "RESULT name key=value …", which the test parses; a rank that fails throws, which aborts the job.
/// </summary>
public static class Worker
{
    public const int Steps = 20;
    public const int GlobalBatch = 64;
    public const ulong ShuffleSeed = 7;

    public static int Run(string scenario, string[] args)
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        var group = ProcessGroup.World;
        switch (scenario)
        {
            case "equivalence":
                // The single-process references take turns between the ranks (the replicas are identical).
                foreach (var optimizer in new[] { "sgd", "adam" })
                {
                    Equivalence<double>(group, "lenet", optimizer, checker: 0);
                    Equivalence<float>(group, "lenet", optimizer, checker: 1);
                    Equivalence<double>(group, "tied", optimizer, checker: 1);
                    Equivalence<float>(group, "tied", optimizer, checker: 0);
                }

                break;
            case "overlap":
                Overlap(group);
                break;
            case "throw":
                group.Barrier();
                if (group.Rank == 1)
                {
                    throw new InvalidOperationException("rank 1 failed on purpose");
                }

                // Rank 0 waits for a rank that will never come: only the abort ends it.
                group.Barrier();
                Console.WriteLine("RESULT throw passed-the-barrier");
                break;
            default:
                Console.Error.WriteLine($"unknown scenario '{scenario}'");
                return 2;
        }

        group.Barrier();
        return 0;
    }

    /// <summary>LeNet-5 (WORKLOADS.md §6) for any element type.</summary>
    public static Module<T> LeNet<T>(Generator g)
        where T : unmanaged, IFloatingPointIeee754<T> => new Sequential<T>(
        ("conv1", new Conv2d<T>(1, 6, 5, padding: 2, generator: g)),
        ("relu1", new ReLU<T>()),
        ("pool1", new MaxPool2d<T>(2)),
        ("conv2", new Conv2d<T>(6, 16, 5, generator: g)),
        ("relu2", new ReLU<T>()),
        ("pool2", new MaxPool2d<T>(2)),
        ("flatten", new Flatten<T>()),
        ("fc1", new Linear<T>(400, 120, generator: g)),
        ("relu3", new ReLU<T>()),
        ("fc2", new Linear<T>(120, 84, generator: g)),
        ("relu4", new ReLU<T>()),
        ("fc3", new Linear<T>(84, 10, generator: g)));

    /// <summary>An autoencoder-like stack whose decoder reuses the encoder's weight (one parameter, two uses).</summary>
    public sealed class Tied<T> : Module<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public Tied(Generator g)
        {
            Encoder = RegisterModule("encoder", new Linear<T>(16, 16, generator: g));
            Decoder = RegisterModule("decoder", new Linear<T>(16, 16, generator: g));
            Decoder.Weight = Encoder.Weight;
            Head = RegisterModule("head", new Linear<T>(16, 10, generator: g));
        }

        public Linear<T> Encoder { get; }

        public Linear<T> Decoder { get; }

        public Linear<T> Head { get; }

        protected override Tensor<T> ForwardCore(Tensor<T> input) =>
            Head.Forward(Decoder.Forward(Encoder.Forward(input).Tanh()).Tanh());
    }

    public static TensorDataset<T> Data<T>(string model, int count)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = new Generator(123);
        int[] shape = model == "lenet" ? [count, 1, 28, 28] : [count, 16];
        var x = Tensor.Randn<T>(shape, g);
        var random = new Random(5);
        var y = Enumerable.Range(0, count).Select(_ => random.Next(10)).ToArray();
        return new TensorDataset<T>(x, y);
    }

    private static Module<T> Make<T>(string model, ulong seed)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        model == "lenet" ? LeNet<T>(new Generator(seed)) : new Tied<T>(new Generator(seed));

    private static (Action ZeroGrad, Action Step) MakeOptimizer<T>(string kind, IEnumerable<Tensor<T>> parameters)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (kind == "sgd")
        {
            var sgd = new SGD<T>(parameters, lr: 0.05, momentum: 0.9);
            return (() => sgd.ZeroGrad(), sgd.Step);
        }

        var adam = new Adam<T>(parameters, lr: 1e-3);
        return (() => adam.ZeroGrad(), adam.Step);
    }

    /// <summary>Parameters after <see cref="Steps"/> steps at batch 64 in one process (the reference).</summary>
    public static T[] TrainAlone<T>(string model, string optimizer)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var net = Make<T>(model, 0);
        var opt = MakeOptimizer(optimizer, net.Parameters());
        var loader = new DataLoader<T>(Data<T>(model, Steps * GlobalBatch), GlobalBatch, shuffle: true, seed: ShuffleSeed);
        foreach (var (x, y) in loader)
        {
            opt.ZeroGrad();
            net.Forward(x).CrossEntropy(y).Backward();
            opt.Step();
        }

        return Flatten(net);
    }

    private static T[] Flatten<T>(Module<T> net)
        where T : unmanaged, IFloatingPointIeee754<T> => [.. net.Parameters().SelectMany(p => p.ToArray())];

    private static void Equivalence<T>(ProcessGroup group, string model, string optimizer, int checker)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Rank r ≠ 0 starts from other weights: the broadcast at construction must replace them.
        var ddp = new DistributedDataParallel<T>(Make<T>(model, (ulong)group.Rank * 1000), group, bucketCapMB: 0.02);
        var opt = MakeOptimizer(optimizer, ddp.Parameters());
        var data = Data<T>(model, Steps * GlobalBatch);
        var sampler = new DistributedSampler(data.Count, shuffle: true, seed: ShuffleSeed);
        var loader = new DataLoader<T>(data, GlobalBatch / group.WorldSize, sampler: sampler);
        var steps = 0;
        foreach (var (x, y) in loader)
        {
            opt.ZeroGrad();
            ddp.Forward(x).CrossEntropy(y).Backward();
            opt.Step();
            steps++;
        }

        var mine = Flatten(ddp.Module);

        // Every replica holds rank 0's parameters, bit for bit.
        var rankZero = (T[])mine.Clone();
        group.Broadcast<T>(rankZero);
        var spread = mine.Zip(rankZero, (a, b) => double.CreateTruncating(T.Abs(a - b))).Max();
        double[] spreadAll = [spread];
        group.AllReduce<double>(spreadAll, ReduceOp.Max);

        if (group.Rank == checker % group.WorldSize)
        {
            // maxAbs: the largest element difference; maxRel: that over the largest parameter magnitude;
            // tensorRel (reported, not asserted): the worst tensor's largest difference over its own largest
            // magnitude. Adam moves a parameter by about lr whatever the size of its gradient, so where a
            // gradient is near 0 the rounding of a sum in another order shows up magnified (float32 biases).
            var reference = TrainAlone<T>(model, optimizer);
            double maxAbs = 0, tensorRel = 0, scaleAll = 0;
            var start = 0;
            foreach (var p in ddp.Module.Parameters())
            {
                double diff = 0, scale = 0;
                for (var i = start; i < start + p.Numel; i++)
                {
                    var a = double.CreateTruncating(mine[i]);
                    var b = double.CreateTruncating(reference[i]);
                    diff = Math.Max(diff, Math.Abs(a - b));
                    scale = Math.Max(scale, Math.Abs(b));
                }

                maxAbs = Math.Max(maxAbs, diff);
                scaleAll = Math.Max(scaleAll, scale);
                tensorRel = Math.Max(tensorRel, diff / Math.Max(scale, double.Epsilon));
                start += p.Numel;
            }

            Console.WriteLine($"RESULT {model}-{optimizer}-{typeof(T).Name.ToLowerInvariant()} steps={steps} buckets={ddp.BucketCount} maxAbs={maxAbs:R} maxRel={maxAbs / scaleAll:R} tensorRel={tensorRel:R} replicaSpread={spreadAll[0]:R}");
        }
    }

    private static void Overlap(ProcessGroup group)
    {
        var net = LeNet<float>(new Generator(0));
        var ddp = new DistributedDataParallel<float>(net, group, bucketCapMB: 0.02);
        var first = net.Parameters().First(); // conv1.weight: its gradient is the last one backward produces
        long lastReady = 0;
        first.RegisterHook(_ => { lastReady = Stopwatch.GetTimestamp(); });
        var data = Data<float>("lenet", 5 * GlobalBatch);
        var loader = new DataLoader<float>(data, GlobalBatch / group.WorldSize, sampler: new DistributedSampler(data.Count, seed: 1));
        var margins = new List<double>();
        foreach (var (x, y) in loader)
        {
            ddp.Forward(x).CrossEntropy(y).Backward();
            var backwardEnd = Stopwatch.GetTimestamp();
            var firstLaunch = ddp.LaunchTimestamps.Min();
            if (!(firstLaunch < lastReady && lastReady < backwardEnd))
            {
                margins.Add(-1);
            }
            else
            {
                margins.Add(Stopwatch.GetElapsedTime(firstLaunch, lastReady).TotalMicroseconds);
            }

            ddp.ZeroGrad();
        }

        if (group.IsMain)
        {
            Console.WriteLine($"RESULT overlap buckets={ddp.BucketCount} steps={margins.Count} minLeadMicroseconds={margins.Min():F1}");
        }
    }
}
