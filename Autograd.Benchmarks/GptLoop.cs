using System.Diagnostics;

namespace Autograd.Benchmarks;

/// <summary>
/// `gptloop [threads] [steps] [--ab NAME]`: the workload runner's GPT step (CharGpt, GptJob.Step, synthetic ids) at one
/// thread count, 50 warm-up steps and then <c>steps</c> timed ones, printing their median and the time per step in the
/// buffer pool's induced collections. `--ab NAME` runs every step twice, with a kernel switch off and then on, and
/// prints both medians: an A/B within the same minutes of a host whose speed drifts. A profiling target
/// (`perf record` sees only the chosen thread count); `workloads --only gpt_step` is the figure to report.
/// </summary>
internal static class GptLoop
{
    public static int Run(string[] args)
    {
        var threads = args.Length > 0 ? int.Parse(args[0]) : 1;
        var steps = args.Length > 1 ? int.Parse(args[1]) : 200;
        var abAt = Array.IndexOf(args, "--ab");
        Action<bool>? toggle = abAt < 0 ? null : Switch(args[abAt + 1]);
        Tensor.SetNumThreads(threads);
        var tokens = new Generator(1337);
        var train = new int[100_000];
        for (var i = 0; i < train.Length; i++)
        {
            train[i] = tokens.NextInt(65);
        }

        var model = new Autograd.Example.CharGpt(new Autograd.Example.GptConfig(65), new Generator(1337));
        var job = new Autograd.Example.GptJob(model, train, 2000, new Generator(7));
        for (var i = 0; i < 50; i++)
        {
            job.Step(i);
        }

        var (collections, collectionTicks) = (Autograd.Kernels.BufferPool.InducedCollections, Autograd.Kernels.BufferPool.CollectionTicks);
        var times = new double[steps];
        var onTimes = new double[toggle is null ? 0 : steps];
        for (var i = 0; i < steps; i++)
        {
            for (var side = 0; side < (toggle is null ? 1 : 2); side++)
            {
                toggle?.Invoke(side == 1);
                var a = Stopwatch.GetTimestamp();
                job.Step(50 + i);
                (side == 0 ? times : onTimes)[i] = Stopwatch.GetElapsedTime(a).TotalMilliseconds;
            }
        }

        var runs = steps * (toggle is null ? 1 : 2);
        Console.WriteLine($"pool: {Autograd.Kernels.BufferPool.InducedCollections - collections} induced collections in {runs} steps, {Stopwatch.GetElapsedTime(collectionTicks, Autograd.Kernels.BufferPool.CollectionTicks).TotalMilliseconds / runs:F3} ms per step in them");
        Array.Sort(times);
        Console.WriteLine($"gptloop t={threads}: median {times[steps / 2]:F3} ms, min {times[0]:F3} ms over {steps} steps{(toggle is null ? "" : " (switch off)")}");
        if (toggle is not null)
        {
            Array.Sort(onTimes);
            Console.WriteLine($"gptloop t={threads}: median {onTimes[steps / 2]:F3} ms, min {onTimes[0]:F3} ms over {steps} steps (switch {args[abAt + 1]} on, alternating step by step)");
        }

        return 0;
    }

    /// <summary>`--ab NAME`: a kernel switch flipped before every step, so both sides see the same minutes of a drifting host.</summary>
    private static Action<bool> Switch(string name) => name switch
    {
        "attention-tiles" => on => Autograd.Kernels.AttentionTiles.Disabled = !on,
        "direct-a" => on => Autograd.Kernels.Gemm.DirectADisabled = !on,
        "direct-columns" => on => Autograd.Kernels.Gemm.DirectColumnsDisabled = !on,
        "keep-probabilities" => on => Autograd.Kernels.AttentionTiles.KeepProbabilitiesDisabled = !on,
        _ => throw new ArgumentException($"gptloop: unknown switch '{name}' (known: attention-tiles, direct-a, direct-columns, keep-probabilities)."),
    };
}
