using System.Diagnostics;
using Autograd.Kernels;

namespace Autograd.Benchmarks;

/// <summary>
/// `smallops [op ...] [--sizes 13-21]`: where two threads start to win, per op kind. For each op and
/// size 2^k, one pass with every contiguous pass on the calling thread (<see cref="Elementwise.ForceChunks"/> = 1)
/// against the same pass cut in two (= 2) and the size rule the library uses (0), interleaved in
/// blocks of ~2 ms so both see the same machine, medians of 15 blocks each; at 2 threads, no grad.
/// Prints µs per pass and the speed-up of the cut pass. The thresholds in Elementwise.Cost come from it.
/// </summary>
internal static class SmallOps
{
    private static readonly string[] s_all = ["add", "mul", "relu", "exp", "tanh", "sigmoid", "erf", "gelu", "gelugrad", "softmax", "logsoftmax", "crossentropy", "layernorm"];

    public static int Run(string[] args)
    {
        var ops = args.Where(a => !a.StartsWith("--") && !a.Contains('-')).ToArray();
        var selected = ops.Length == 0 ? s_all : ops;
        var (lo, hi) = (13, 21);
        var at = Array.IndexOf(args, "--sizes");
        if (at >= 0)
        {
            var parts = args[at + 1].Split('-');
            (lo, hi) = (int.Parse(parts[0]), int.Parse(parts[1]));
        }

        if (args.Contains("--relu"))
        {
            return ReluStreams();
        }

        if (args.Contains("--cost"))
        {
            return Costs(selected, lo, hi);
        }

        Tensor.SetNumThreads(2);
        Console.WriteLine($"{"op",-13} {"n",9} {"1 thr µs",10} {"cut in 2 µs",12} {"rule µs",9} {"1/cut",6} {"1/rule",7}");
        using (Tensor.NoGrad())
        {
            foreach (var op in selected)
            {
                for (var k = lo; k <= hi; k++)
                {
                    var f = Make(op, 1 << k);
                    var (one, two, rule) = Compare(f);
                    Console.WriteLine($"{op,-13} {1 << k,9} {one,10:F1} {two,12:F1} {rule,9:F1} {one / two,6:F2} {one / rule,7:F2}");
                }
            }
        }

        Elementwise.ForceChunks = 0;
        return 0;
    }

    /// <summary>
    /// `--cost`: ns per element of each op on one thread, by the thread's processor time (so other processes
    /// holding the core do not count), median of 15 rounds of ~2 ms, and its ratio to add's at the same size:
    /// the op's cost in units of a copy.
    /// </summary>
    private static int Costs(string[] ops, int lo, int hi)
    {
        Tensor.SetNumThreads(1);
        var perElement = new Dictionary<(string, int), double>();
        using (Tensor.NoGrad())
        {
            foreach (var op in ops.Prepend("add").Distinct())
            {
                for (var k = lo; k <= hi; k++)
                {
                    var f = Make(op, 1 << k);
                    Warm(f);

                    var clock = new WideProbe.ThreadClock();
                    var calls = 0;
                    while (clock.Milliseconds < 2)
                    {
                        f();
                        calls++;
                    }

                    var rounds = new List<double>();
                    for (var r = 0; r < 15; r++)
                    {
                        clock.Restart();
                        for (var c = 0; c < calls; c++)
                        {
                            f();
                        }

                        rounds.Add(clock.Milliseconds * 1e6 / calls / (1 << k));
                    }

                    perElement[(op, k)] = rounds.Order().ElementAt(rounds.Count / 2);
                    Console.WriteLine($"{op,-13} {1 << k,9} {perElement[(op, k)],8:F3} ns/elem  cost {perElement[(op, k)] / perElement[("add", k)],6:F2} copies");
                }
            }
        }

        return 0;
    }

    /// <summary>
    /// `--relu`: the workload's relu_fwd/16M and relu_fwdbwd/16M passes on one thread, with streaming stores
    /// and without (<see cref="MaskKernel.StreamingDisabled"/>), interleaved, by the thread's processor time
    /// (memory stalls count, other processes holding the core do not): medians of 21 calls each.
    /// </summary>
    private static int ReluStreams()
    {
        Tensor.SetNumThreads(1);
        var x = Tensor.Randn<float>([16 << 20], new Generator(4), requiresGrad: true);
        Action forward = () =>
        {
            using (Tensor.NoGrad())
            {
                _ = x.Relu();
            }
        };
        Action both = () =>
        {
            x.Grad = null;
            x.Relu().Sum().Backward();
        };
        foreach (var (name, f) in new[] { ("relu_fwd/16M", forward), ("relu_fwdbwd/16M", both) })
        {
            var times = new[] { new List<double>(), new List<double>() };
            for (var i = 0; i < 5; i++)
            {
                f();
            }

            var clock = new WideProbe.ThreadClock();
            for (var round = 0; round < 21; round++)
            {
                for (var s = 0; s < 2; s++)
                {
                    MaskKernel.StreamingDisabled = s == 0;
                    clock.Restart();
                    f();
                    times[s].Add(clock.Milliseconds);
                }
            }

            MaskKernel.StreamingDisabled = false;
            var (plain, streamed) = (times[0].Order().ElementAt(10), times[1].Order().ElementAt(10));
            Console.WriteLine($"{name,-16} 1 thread, CPU ms: ordinary stores {plain,7:F3} (min {times[0].Min(),7:F3})  streaming {streamed,7:F3} (min {times[1].Min(),7:F3})  ratio {plain / streamed:F2}");
        }

        return 0;
    }

    /// <summary>Calls for 300 ms: past the JIT's tier-up (30 calls, then a background compile), so tier-0 code is not what is timed.</summary>
    private static void Warm(Action f)
    {
        var sw = Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < 300)
        {
            f();
        }
    }

    private static Action Make(string op, int n)
    {
        var g = new Generator(1);
        var a = Tensor.Randn<float>([n], g);
        var b = Tensor.Randn<float>([n], g);
        var rows = Tensor.Randn<float>([n / 64, 64], g);   // the GPT's vocabulary is 65 classes, its attention rows 64-256
        var targets = Enumerable.Range(0, n / 64).Select(i => i % 64).ToArray();
        var wide = Tensor.Randn<float>([Math.Max(1, n / 128), 128], g);   // the GPT's LayerNorm rows
        var weight = Tensor.Ones<float>(128);
        var leaf = Tensor.Randn<float>([n], g, requiresGrad: true);
        return op switch
        {
            "add" => () => _ = a + b,
            "mul" => () => _ = a * 0.5f,
            "relu" => () => _ = a.Relu(),
            "exp" => () => _ = a.Exp(),
            "tanh" => () => _ = a.Tanh(),
            "sigmoid" => () => _ = a.Sigmoid(),
            "erf" => () => _ = a.Erf(),
            "gelu" => () => _ = a.Gelu(),
            "gelugrad" => () =>
            {
                // GELU forward and its VJP (less "gelu": the backward alone).
                using var grad = Tensor.EnableGrad();
                _ = Tensor.Grad(leaf.Gelu(), [leaf], b);
            },
            "softmax" => () => _ = rows.Softmax(-1),
            "logsoftmax" => () => _ = rows.LogSoftmax(-1),
            "crossentropy" => () => _ = rows.CrossEntropy(targets),
            "layernorm" => () => _ = wide.LayerNorm([128], weight),
            _ => throw new ArgumentException($"smallops: unknown op '{op}' (one of {string.Join(", ", s_all)})."),
        };
    }

    /// <summary>Medians of 15 interleaved blocks per setting, µs per call.</summary>
    private static (double One, double Two, double Rule) Compare(Action f)
    {
        // Calls per block: about 2 ms of work on one thread.
        for (var s = 2; s >= 0; s--)
        {
            Elementwise.ForceChunks = s;
            Warm(f);
        }

        var sw = Stopwatch.StartNew();
        var calls = 0;
        while (sw.Elapsed.TotalMilliseconds < 2)
        {
            f();
            calls++;
        }

        var samples = new List<double>[3];
        for (var s = 0; s < 3; s++)
        {
            samples[s] = [];
        }

        for (var block = 0; block < 16; block++)
        {
            for (var s = 0; s < 3; s++)
            {
                Elementwise.ForceChunks = s == 0 ? 1 : s == 1 ? 2 : 0;
                f();
                var t = Stopwatch.GetTimestamp();
                for (var c = 0; c < calls; c++)
                {
                    f();
                }

                // The first block warms the other two settings' code.
                if (block > 0)
                {
                    samples[s].Add(Stopwatch.GetElapsedTime(t).TotalMicroseconds / calls);
                }
            }
        }

        static double Median(List<double> x)
        {
            var s = x.Order().ToArray();
            return s[s.Length / 2];
        }

        return (Median(samples[0]), Median(samples[1]), Median(samples[2]));
    }
}
