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

                // Two micro-batches of 16 per rank, the first under NoSync: still the batch of 64.
                Equivalence<double>(group, "tied", "sgd", checker: 1, accumulate: true);

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

    /// <summary>LeNet-5 (the example's, WORKLOADS.md §6) for any element type.</summary>
    public static Module<T> LeNet<T>(Generator g)
        where T : unmanaged, IFloatingPointIeee754<T> => Autograd.Example.LeNet5.Create<T>(g);

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

    private static void Equivalence<T>(ProcessGroup group, string model, string optimizer, int checker, bool accumulate = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Rank r ≠ 0 starts from other weights: the broadcast at construction must replace them.
        var ddp = new DistributedDataParallel<T>(Make<T>(model, (ulong)group.Rank * 1000), group, bucketCapMB: model == "lenet" ? 0.02 : 0.001);
        var opt = MakeOptimizer(optimizer, ddp.Parameters());
        var data = Data<T>(model, Steps * GlobalBatch);
        var sampler = new DistributedSampler(data.Count, shuffle: true, seed: ShuffleSeed);
        var loader = new DataLoader<T>(data, GlobalBatch / group.WorldSize, sampler: sampler);
        var steps = 0;
        var half = Tensor.Scalar(T.CreateTruncating(0.5));
        foreach (var (x, y) in loader)
        {
            opt.ZeroGrad();
            if (accumulate)
            {
                var n = y.Length / 2;
                using (ddp.NoSync())
                {
                    ddp.Forward(x.Narrow(0, 0, n)).CrossEntropy(y[..n]).Mul(half).Backward();
                }

                ddp.Forward(x.Narrow(0, n, y.Length - n)).CrossEntropy(y[n..]).Mul(half).Backward();
            }
            else
            {
                ddp.Forward(x).CrossEntropy(y).Backward();
            }

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

            Console.WriteLine($"RESULT {model}-{optimizer}-{typeof(T).Name.ToLowerInvariant()}{(accumulate ? "-nosync" : "")} steps={steps} buckets={ddp.BucketCount} maxAbs={maxAbs:R} maxRel={maxAbs / scaleAll:R} tensorRel={tensorRel:R} replicaSpread={spreadAll[0]:R}");
        }
    }

    /// <summary>
    /// When the first bucket's all-reduce starts, against when backward reaches conv1 (a hook on conv1's
    /// output runs just before conv1's VJP, which produces the last gradients): it must start before.
    /// </summary>
    private static void Overlap(ProcessGroup group)
    {
        var net = (Sequential<float>)LeNet<float>(new Generator(0));
        var ddp = new DistributedDataParallel<float>(net, group, bucketCapMB: 0.02);
        var data = Data<float>("lenet", 5 * GlobalBatch);
        var loader = new DataLoader<float>(data, GlobalBatch / group.WorldSize, sampler: new DistributedSampler(data.Count, seed: 1));
        var leads = new List<double>();
        foreach (var (x, y) in loader)
        {
            // The wrapped model's layers one by one (DistributedDataParallel's forward is the module's).
            long conv1Backward = 0;
            var h = x;
            foreach (var (name, layer) in net.NamedChildren())
            {
                h = layer.Forward(h);
                if (name == "conv1")
                {
                    h.RegisterHook(_ => { conv1Backward = Stopwatch.GetTimestamp(); });
                }
            }

            h.CrossEntropy(y).Backward();
            var firstLaunch = ddp.LaunchTimestamps.Min();
            leads.Add(Stopwatch.GetElapsedTime(firstLaunch, conv1Backward).TotalMicroseconds);
            ddp.ZeroGrad();
        }

        if (group.IsMain)
        {
            Console.WriteLine($"RESULT overlap buckets={ddp.BucketCount} steps={leads.Count} minLeadMicroseconds={leads.Min():F1}");
        }
    }
}
