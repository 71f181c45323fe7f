using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Autograd.Distributed.Tests;

/// <summary>
/// Runs <see cref="Worker"/> on 2 ranks with Open MPI's mpirun on this machine and checks what rank 0
/// reports. Skipped (inconclusive) where mpirun is not installed; .ci/run installs it.
/// </summary>
[NonParallelizable]
public partial class MultiProcessTests
{
    private static readonly Lazy<MpiRun> s_equivalence = new(() => MpiRun.Start("equivalence", TimeSpan.FromMinutes(3)));

    [GeneratedRegex(@"RESULT (\S+) ([^\r\n]*)")]
    private static partial Regex ResultLine();

    public static double Value(string fields, string key) =>
        double.Parse(Regex.Match(fields, $@"\b{key}=(\S+)").Groups[1].Value, CultureInfo.InvariantCulture);

    private static Dictionary<string, string> Results(MpiRun run) =>
        ResultLine().Matches(run.Output).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);

    /// <summary>
    /// 2 ranks at batch 32 (DistributedSampler, DistributedDataParallel) end with the parameters of one process
    /// at batch 64 after 20 steps: float64 to 1e-12, float32 to 1e-5 relative; both replicas identical.
    /// "-nosync": each rank's 32 as two micro-batches of 16, the first backward under NoSync.
    /// </summary>
    [TestCase("lenet-sgd-double")]
    [TestCase("lenet-adam-double")]
    [TestCase("tied-sgd-double")]
    [TestCase("tied-adam-double")]
    [TestCase("lenet-sgd-single")]
    [TestCase("lenet-adam-single")]
    [TestCase("tied-sgd-single")]
    [TestCase("tied-adam-single")]
    [TestCase("tied-sgd-double-nosync")]
    public void TwoRanksAtBatch32_MatchOneProcessAtBatch64(string name)
    {
        var run = s_equivalence.Value;
        Assert.That(run.ExitCode, Is.Zero, run.Output);
        var results = Results(run);
        Assert.That(results, Does.ContainKey(name), run.Output);
        var fields = results[name];
        Assert.That(Value(fields, "steps"), Is.EqualTo(Worker.Steps), fields);
        Assert.That(Value(fields, "buckets"), Is.GreaterThan(1), "several buckets: " + fields);
        Assert.That(Value(fields, "replicaSpread"), Is.Zero, "the replicas differ: " + fields);
        if (name.Contains("double", StringComparison.Ordinal))
        {
            Assert.That(Value(fields, "maxAbs"), Is.LessThanOrEqualTo(1e-12), fields);
        }
        else
        {
            Assert.That(Value(fields, "maxRel"), Is.LessThanOrEqualTo(1e-5), fields);
        }
    }

    /// <summary>The first bucket's all-reduce starts before backward produces its last gradient (conv1.weight's), on every step.</summary>
    [Test]
    public void BucketAllReduce_StartsBeforeBackwardEnds()
    {
        var run = MpiRun.Start("overlap", TimeSpan.FromMinutes(2));
        Assert.That(run.ExitCode, Is.Zero, run.Output);
        var fields = Results(run)["overlap"];
        Assert.That(Value(fields, "buckets"), Is.GreaterThan(1), fields);
        Assert.That(Value(fields, "minLeadMicroseconds"), Is.GreaterThan(0), fields);
    }

    /// <summary>A rank that throws ends the whole job with its message, while the other waits in a barrier: no hang.</summary>
    [Test]
    public void ARankThatThrows_AbortsTheJob_WithItsMessage()
    {
        var clock = Stopwatch.StartNew();
        var run = MpiRun.Start("throw", TimeSpan.FromSeconds(60));
        Assert.That(run.TimedOut, Is.False, "the job hung: " + run.Output);
        Assert.That(run.ExitCode, Is.Not.Zero, run.Output);
        Assert.That(run.Output, Does.Contain("rank 1/2: unhandled exception: System.InvalidOperationException: rank 1 failed on purpose"), "the handler's line, with the rank");
        // Open MPI's notice of the abort is its help text, sent by the aborting rank to its daemon. Under load the rank
        // can die mid-send: the daemon then logs the failed unpack of that help message (show_help.c) instead.
        Assert.That(run.Output, Does.Contain("MPI_ABORT was invoked on rank 1").Or.Contain("show_help.c"), $"exit code {run.ExitCode}");
        Assert.That(run.Output, Does.Not.Contain("passed-the-barrier"));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(30)), "two process start-ups and an abort");
        TestContext.Out.WriteLine($"aborted after {clock.Elapsed.TotalSeconds:F1} s");
    }
}

/// <summary>One <c>mpirun -np 2</c> of this assembly, with its combined output.</summary>
public sealed record MpiRun(int ExitCode, string Output, bool TimedOut)
{
    /// <summary>
    /// Flags that work as root in a container: --oversubscribe (more ranks than free cores), shared memory
    /// without the cross-memory-attach single copy (often forbidden in containers).
    /// </summary>
    public static readonly string[] Flags = ["--allow-run-as-root", "--oversubscribe", "--mca", "btl", "self,vader", "--mca", "btl_vader_single_copy_mechanism", "none"];

    public static string? FindMpirun() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);

    public static MpiRun Start(string scenario, TimeSpan timeout)
    {
        var mpirun = FindMpirun();
        if (mpirun is null)
        {
            Assert.Inconclusive("mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev); .ci/run installs it.");
        }

        var start = new ProcessStartInfo(mpirun!) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])[.. Flags, "-np", "2", "dotnet", typeof(Worker).Assembly.Location, "worker", scenario])
        {
            start.ArgumentList.Add(a);
        }

        // One thread per rank: two ranks share the machine.
        start.Environment["AUTOGRAD_NUM_THREADS"] = "1";
        start.Environment["TERM"] = "dumb"; // no terminal set-up sequences in front of the first line
        using var process = Process.Start(start)!;
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return new MpiRun(-1, output.ToString(), TimedOut: true);
        }

        process.WaitForExit();
        return new MpiRun(process.ExitCode, output.ToString(), TimedOut: false);
    }
}
