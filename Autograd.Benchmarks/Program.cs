using System.Diagnostics;
using Autograd.Kernels;
using BenchmarkDotNet.Running;

namespace Autograd.Benchmarks;

public static class Program
{
    public static void Main(string[] args)
    {
        // --no-stream: relu's passes with ordinary stores at every size (MaskKernel), the same-session baseline.
        if (args.Contains("--no-stream"))
        {
            MaskKernel.StreamingDisabled = true;
            args = args.Where(a => a != "--no-stream").ToArray();
        }

        // --no-wide-conv: the packed-column conv path only, for before/after figures in one session.
        if (args.Contains("--no-wide-conv"))
        {
            WideConv.Disabled = true;
            args = args.Where(a => a != "--no-wide-conv").ToArray();
        }

        // --no-winograd: 3×3 stride-1 convolutions on the other paths, for before/after figures in one session.
        if (args.Contains("--no-winograd"))
        {
            Winograd.Disabled = true;
            args = args.Where(a => a != "--no-winograd").ToArray();
        }

        // --no-shared-pack: every GEMM worker packs the shared operand itself, for before/after figures in one session.
        if (args.Contains("--no-shared-pack"))
        {
            Gemm.SharedPackingDisabled = true;
            args = args.Where(a => a != "--no-shared-pack").ToArray();
        }

        // --no-direct-a: a row-major A packed like any other operand instead of read in place, for before/after figures.
        if (args.Contains("--no-direct-a"))
        {
            Gemm.DirectADisabled = true;
            args = args.Where(a => a != "--no-direct-a").ToArray();
        }

        // --no-pack-aliased-a: an A whose lines are a multiple of 4 KiB apart read in place like any other (before/after figures).
        if (args.Contains("--no-pack-aliased-a"))
        {
            Gemm.PackAliasedADisabled = true;
            args = args.Where(a => a != "--no-pack-aliased-a").ToArray();
        }

        // --no-awake-split: products below the parallel grain stay on the calling thread even when a worker is awake.
        if (args.Contains("--no-awake-split"))
        {
            Gemm.AwakeSplitDisabled = true;
            args = args.Where(a => a != "--no-awake-split").ToArray();
        }

        // --no-wide-forward: a forward pass on wide rows only where the whole convolution goes there (before/after figures).
        if (args.Contains("--no-wide-forward"))
        {
            ConvPlan.WideForwardDisabled = true;
            args = args.Where(a => a != "--no-wide-forward").ToArray();
        }

        // --no-direct-b: a row-major B packed like any other operand instead of read in place (before/after figures).
        if (args.Contains("--no-direct-b"))
        {
            Gemm.DirectBDisabled = true;
            args = args.Where(a => a != "--no-direct-b").ToArray();
        }

        // --no-direct-columns: a column-major A (a transposed view) packed instead of read in place.
        if (args.Contains("--no-direct-columns"))
        {
            Gemm.DirectColumnsDisabled = true;
            args = args.Where(a => a != "--no-direct-columns").ToArray();
        }

        // --no-phase-planes: strided convolutions on packed columns with the strided gather, for before/after figures.
        if (args.Contains("--no-phase-planes"))
        {
            PhasePlanes.Disabled = true;
            args = args.Where(a => a != "--no-phase-planes").ToArray();
        }

        if (args.Length > 0 && args[0] == "workloads")
        {
            Environment.Exit(Workloads.Run(args[1..]));
        }

        if (args.Length > 0 && args[0] == "allocations")
        {
            Environment.Exit(AllocationProbe.Run(args[1..]));
        }

        if (args.Length > 0 && args[0] == "wideprobe")
        {
            Environment.Exit(WideProbe.Run(args[1..]));
        }

        if (args.Length > 0 && args[0] == "packprobe")
        {
            Environment.Exit(PackProbe.Run(args[1..]));
        }

        if (args.Length > 0 && args[0] == "abprobe")
        {
            Environment.Exit(AbProbe.Run(args[1..]));
        }

        if (args.Length > 0 && args[0] == "smallops")
        {
            Environment.Exit(SmallOps.Run(args[1..]));
        }

        if (args.Length > 0 && args[0] == "convparts")
        {
            Environment.Exit(ConvParts.Run(args[1..]));
        }

        if (args.Length > 0 && args[0] == "gemmshapes")
        {
            Environment.Exit(GemmShapes.Run(args[1..]));
        }

        if (args.Length > 0 && args[0] == "jitprobe")
        {
            Environment.Exit(JitProbe.Run(args[1..]));
        }

        if (args.Length > 0 && args[0] == "poolprobe")
        {
            Environment.Exit(PoolProbe.Run(args[1..]));
        }

        if (args.Length > 0 && args[0] == "gptloop")
        {
            Environment.Exit(GptLoop.Run(args[1..]));
        }

        if (args.Length > 0 && args[0] == "attnloop")
        {
            Environment.Exit(AttnLoop.Run(args[1..]));
        }

        if (args.Length > 0 && args[0] == "layers")
        {
            Environment.Exit(LayerProfile.Run(args[1..]));
        }

        if (args.Length > 0 && args[0] == "quick")
        {
            // A few seconds of Stopwatch timing for tuning loops; BenchmarkDotNet is the number to publish.
            Quick(args.Skip(1).Select(int.Parse).DefaultIfEmpty(512).ToArray());
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }

    private static void Quick(int[] sizes)
    {
        Console.WriteLine($"threads: {Gemm.MaxThreads}");
        foreach (var n in sizes)
        {
            QuickOne<float>(n);
            QuickOne<double>(n);
        }
    }

    private static void QuickOne<T>(int n)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var random = new Random(1);
        var a = new T[n * n];
        var b = new T[n * n];
        var c = new T[n * n];
        for (var i = 0; i < a.Length; i++)
        {
            a[i] = T.CreateTruncating(random.NextDouble() - 0.5);
            b[i] = T.CreateTruncating(random.NextDouble() - 0.5);
        }

        var flops = 2.0 * n * n * n;
        var reps = Math.Max(3, (int)(1e9 / flops));
        var samples = new List<double>();
        for (var round = 0; round < 11; round++)
        {
            var watch = Stopwatch.StartNew();
            for (var r = 0; r < reps; r++)
            {
                Gemm.Multiply(n, n, n, a, 0, n, 1, b, 0, n, 1, c, 0, n, false);
            }

            samples.Add(watch.Elapsed.TotalSeconds / reps);
        }

        samples.Sort();
        var median = samples[samples.Count / 2];
        var best = samples[0];
        Console.WriteLine(
            $"{typeof(T).Name,-7} n={n,5}: median {median * 1e3,9:F3} ms {flops / median / 1e9,6:F1} GFLOP/s, best {flops / best / 1e9,6:F1}");
    }
}
