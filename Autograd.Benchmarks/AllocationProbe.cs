using Autograd.Kernels;

namespace Autograd.Benchmarks;

/// <summary>
/// Managed bytes allocated by each forward op, each backward step and the optimiser update of one LeNet-5
/// batch-64 step (<c>dotnet run -c Release --project Autograd.Benchmarks -- allocations</c>). One thread, so
/// every allocation is on the calling thread (<see cref="GC.GetAllocatedBytesForCurrentThread"/>); pooled
/// buffers taken from the pool allocate nothing, so what this shows is what still bypasses the pool (or
/// misses it). Backward is split with gradient hooks on every intermediate: a hook runs when the
/// gradient of its tensor is complete, just before the VJP of the op that produced it, so the bytes
/// between two hooks belong to the VJP named in the row (and the sum of gradients meeting there).
/// </summary>
internal static class AllocationProbe
{
    public static int Run(string[] args)
    {
        var steps = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 5;
        Tensor.SetNumThreads(1);
        var g = new Generator(0);
        var p = new Params(g);
        var xb = Tensor.Randn<float>([64, 1, 28, 28], g);
        var yb = Enumerable.Range(0, 64).Select(_ => g.NextInt(10)).ToArray();
        var rows = new Dictionary<string, (long Bytes, long Fresh)>();
        var order = new List<string>();
        for (var s = 0; s < 20 + steps; s++)
        {
            var measured = s >= 20;
            Step(p, xb, yb, measured ? rows : null, order);
        }

        Console.WriteLine($"LeNet-5 b64, 1 thread, bytes allocated per step (mean of {steps} steps after 20 warm-up), rows >= 1 KB:");
        Console.WriteLine($"  {"",-46} {"allocated",12} {"fresh pool",12}");
        long total = 0, totalFresh = 0;
        foreach (var name in order.Distinct())
        {
            var (bytes, fresh) = (rows[name].Bytes / steps, rows[name].Fresh / steps);
            total += bytes;
            totalFresh += fresh;
            if (bytes >= 1024)
            {
                Console.WriteLine($"  {name,-46} {bytes,12:N0} {fresh,12:N0}");
            }
        }

        Console.WriteLine($"  {"total",-46} {total,12:N0} {totalFresh,12:N0}");
        Console.WriteLine($"pool: outstanding {BufferPool.OutstandingBytes:N0} B, fresh {BufferPool.FreshBytes:N0} B, induced collections {BufferPool.InducedCollections}");
        return 0;
    }

    private static void Step(Params p, Tensor<float> x, int[] labels, Dictionary<string, (long Bytes, long Fresh)>? rows, List<string> order)
    {
        var mark = GC.GetAllocatedBytesForCurrentThread();
        var freshMark = BufferPool.FreshBytes;
        void Note(string name)
        {
            var now = GC.GetAllocatedBytesForCurrentThread();
            var fresh = BufferPool.FreshBytes;
            if (rows is not null)
            {
                var (b, f) = rows.GetValueOrDefault(name);
                rows[name] = (b + (now - mark), f + (fresh - freshMark));
                order.Add(name);
            }

            Reset();
        }

        void Reset()
        {
            freshMark = BufferPool.FreshBytes;
            mark = GC.GetAllocatedBytesForCurrentThread();
        }

        foreach (var t in p.All)
        {
            t.ZeroGrad();
        }

        Note("ZeroGrad");
        var pending = "backward: seed + CrossEntropy VJPs";
        var hooks = new List<HookHandle>();
        Tensor<float> Op(string name, Func<Tensor<float>> f)
        {
            Reset();
            var y = f();
            Note("forward: " + name);
            var vjp = "backward: " + name + " VJP";
            hooks.Add(y.RegisterHook(_ =>
            {
                Note(pending);
                pending = vjp;
            }));
            Reset();
            return y;
        }

        var h = Op("Conv2d 1", () => x.Conv2d(p.C1W, p.C1B, padding: 2));
        h = Op("Relu 1", () => h.Relu());
        h = Op("MaxPool2d 1", () => h.MaxPool2d(2));
        h = Op("Conv2d 2", () => h.Conv2d(p.C2W, p.C2B));
        h = Op("Relu 2", () => h.Relu());
        h = Op("MaxPool2d 2", () => h.MaxPool2d(2));
        h = Op("Flatten", () => h.Flatten(1));
        h = Op("MatMul fc1", () => h.MatMul(p.F1W.Transpose(0, 1)));
        h = Op("Add fc1 bias", () => h + p.F1B);
        h = Op("Relu fc1", () => h.Relu());
        h = Op("MatMul fc2", () => h.MatMul(p.F2W.Transpose(0, 1)));
        h = Op("Add fc2 bias", () => h + p.F2B);
        h = Op("Relu fc2", () => h.Relu());
        h = Op("MatMul fc3", () => h.MatMul(p.F3W.Transpose(0, 1)));
        h = Op("Add fc3 bias", () => h + p.F3B);
        Reset();
        var loss = h.CrossEntropy(labels);
        Note("forward: CrossEntropy");
        loss.Backward();
        Note(pending + " (+ leaf accumulation)");
        foreach (var hook in hooks)
        {
            hook.Remove();
        }

        Reset();
        using (Tensor.NoGrad())
        {
            for (var i = 0; i < p.All.Length; i++)
            {
                var grad = p.All[i].Grad!;
                if (p.Momentum[i] is not { } buf)
                {
                    p.Momentum[i] = buf = grad.Clone();
                }
                else
                {
                    buf.MulInPlace(0.9f).AddInPlace(grad);
                }

                p.All[i].AddInPlace(buf, -0.01f);
            }
        }

        Note("SGD momentum update");
        _ = loss.Item();
    }

    private sealed class Params(Generator g)
    {
        public Tensor<float>[] All { get; } =
        [
            P(g, [6, 1, 5, 5], 25), P(g, [6], 25), P(g, [16, 6, 5, 5], 150), P(g, [16], 150),
            P(g, [120, 400], 400), P(g, [120], 400), P(g, [84, 120], 120), P(g, [84], 120), P(g, [10, 84], 84), P(g, [10], 84),
        ];

        public Tensor<float>?[] Momentum { get; } = new Tensor<float>?[10];

        public Tensor<float> C1W => All[0];

        public Tensor<float> C1B => All[1];

        public Tensor<float> C2W => All[2];

        public Tensor<float> C2B => All[3];

        public Tensor<float> F1W => All[4];

        public Tensor<float> F1B => All[5];

        public Tensor<float> F2W => All[6];

        public Tensor<float> F2B => All[7];

        public Tensor<float> F3W => All[8];

        public Tensor<float> F3B => All[9];

        private static Tensor<float> P(Generator g, int[] shape, int fanIn)
        {
            var bound = 1f / MathF.Sqrt(fanIn);
            var t = ((Tensor.Rand<float>(shape, g) * 2f) - 1f) * bound;
            t.RequiresGrad = true;
            return t;
        }
    }
}
