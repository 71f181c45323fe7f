using System.Diagnostics;

namespace Autograd.Benchmarks;

/// <summary>
/// `gptloop [threads] [steps]`: the workload runner's GPT step (CharGpt, GptJob.Step, synthetic ids) at one
/// thread count, 50 warm-up steps and then <c>steps</c> timed ones, printing their median. A profiling target
/// (`perf record` sees only the chosen thread count); `workloads --only gpt_step` is the figure to report.
/// </summary>
internal static class GptLoop
{
    public static int Run(string[] args)
    {
        var threads = args.Length > 0 ? int.Parse(args[0]) : 1;
        var steps = args.Length > 1 ? int.Parse(args[1]) : 200;
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

        var times = new double[steps];
        for (var i = 0; i < steps; i++)
        {
            var a = Stopwatch.GetTimestamp();
            job.Step(50 + i);
            times[i] = Stopwatch.GetElapsedTime(a).TotalMilliseconds;
        }

        Array.Sort(times);
        Console.WriteLine($"gptloop t={threads}: median {times[steps / 2]:F3} ms, min {times[0]:F3} ms over {steps} steps");
        return 0;
    }
}
