using System.Diagnostics;
using Autograd.Kernels;

namespace Autograd.Benchmarks;

/// <summary>
/// `gemmshapes [rounds]`: Gemm.Multiply on the GPT step's Linear products (batch 12 × context 64 = 768 rows,
/// 128 channels) in the three forms a Linear layer runs them, 768 × 1024 products against 32-512 columns (an A with
/// 4 KiB rows, <see cref="Autograd.Kernels.Gemm.ReadsAInPlace{T}"/>), and the square n = 1024 product, at 1 and 2
/// threads taken in turn round after round (so both see the same machine). Per shape and thread count: the
/// median of the rounds' times (each round ~20 ms of repeats) and its GFLOP/s, and the median of the process's
/// CPU time per product (GFLOP per CPU-second: the rate per busy core, steadier on a shared machine). A planning tool for the GEMM;
/// `workloads --only matmul` is the figure to report for square products.
/// </summary>
internal static class GemmShapes
{
    // (name, m, n, k, A transposed view, B transposed view): Y = X·Wᵀ, dX = dY·W, dW = dYᵀ·X.
    private static readonly (string Name, int M, int N, int K, bool At, bool Bt)[] s_shapes =
    [
        ("fwd  768x128 . W[384,128]^T", 768, 384, 128, false, true),
        ("fwd  768x128 . W[128,128]^T", 768, 128, 128, false, true),
        ("fwd  768x128 . W[512,128]^T", 768, 512, 128, false, true),
        ("fwd  768x512 . W[128,512]^T", 768, 128, 512, false, true),
        ("dX   768x384 . W[384,128]", 768, 128, 384, false, false),
        ("dX   768x128 . W[128,128]", 768, 128, 128, false, false),
        ("dX   768x512 . W[512,128]", 768, 128, 512, false, false),
        ("dX   768x128 . W[128,512]", 768, 512, 128, false, false),
        ("dW   dY[768,384]^T . X[768,128]", 384, 128, 768, true, false),
        ("dW   dY[768,128]^T . X[768,128]", 128, 128, 768, true, false),
        ("dW   dY[768,512]^T . X[768,128]", 512, 128, 768, true, false),
        ("dW   dY[768,128]^T . X[768,512]", 128, 512, 768, true, false),
        ("skinny 768x1024 . [1024,32]", 768, 32, 1024, false, false),
        ("skinny 768x1024 . [1024,128]", 768, 128, 1024, false, false),
        ("skinny 768x1024 . [1024,256]", 768, 256, 1024, false, false),
        ("skinny 768x1024 . [1024,512]", 768, 512, 1024, false, false),
        ("sq   128", 128, 128, 128, false, false),
        ("sq   160", 160, 160, 160, false, false),
        ("sq   1024", 1024, 1024, 1024, false, false),
        ("sqBt 1024 A.B^T", 1024, 1024, 1024, false, true),
        ("sqAt 1024 A^T.B", 1024, 1024, 1024, true, false),
        ("conv W[64,288] . cols[288,784]", 64, 784, 288, false, false),
        ("conv W[128,576] . cols[576,812]", 128, 812, 576, false, false),
        ("tall 768x288 . [288,784]", 768, 784, 288, false, false),
    ];

    // The GPT's Linear layers over x [12, 64, in]: (in, out).
    private static readonly (int In, int Out)[] s_linears = [(128, 384), (128, 128), (128, 512), (512, 128)];

    private static bool s_abDirectB;

    public static int Run(string[] args)
    {
        s_abDirectB = args.Contains("direct-b");
        args = [.. args.Where(a => a is not "--ab" and not "direct-b")];
        var rounds = args.Length > 0 ? int.Parse(args[0]) : 15;
        var filter = args.Length > 1 ? args[1] : "";
        if (filter == "linear")
        {
            return Linears(rounds);
        }

        var random = new Random(1);
        foreach (var s in s_shapes)
        {
            if (!s.Name.Contains(filter, StringComparison.Ordinal))
            {
                continue;
            }

            var a = Fill(random, s.M * s.K);
            var b = Fill(random, s.K * s.N);
            var c = new float[s.M * s.N];
            // A [m, k] is stored [k, m] when it is a transposed view; B [k, n] is stored [n, k].
            int aRs = s.At ? 1 : s.K, aCs = s.At ? s.M : 1, bRs = s.Bt ? 1 : s.N, bCs = s.Bt ? s.K : 1;
            void Product() => Gemm.Multiply(s.M, s.N, s.K, a, 0, aRs, aCs, b, 0, bRs, bCs, c, 0, s.N, false);
            Report(s.Name, 2.0 * s.M * s.N * s.K, rounds, Product);
        }

        return 0;
    }

    /// <summary>
    /// `gemmshapes N linear`: y = x·Wᵀ over x [12, 64, in] and its backward (dX = dY·W, dW = dYᵀ·X) through
    /// MatMul and the tape, as the GPT's Linear layers run them, with a dense gradient seed.
    /// </summary>
    private static int Linears(int rounds)
    {
        foreach (var (cin, cout) in s_linears)
        {
            var g = new Generator(1);
            var x = Tensor.Randn<float>([12, 64, cin], g, requiresGrad: true);
            var w = Tensor.Randn<float>([cout, cin], g, requiresGrad: true);
            var seed = Tensor.Randn<float>([12, 64, cout], g);
            void Step()
            {
                x.Grad = null;
                w.Grad = null;
                x.MatMul(w.Transpose(0, 1)).Backward(seed);
            }

            var flops = 6.0 * 768 * cin * cout;
            Report($"linear fwd+bwd x[12,64,{cin}] W[{cout},{cin}]", flops, rounds, Step);
        }

        return 0;
    }

    /// <summary>
    /// Times <paramref name="run"/> at 1 and 2 threads in turn and prints the medians; with `--ab direct-b`, each
    /// thread count runs with B packed and with <see cref="Gemm.ReadsBInPlace{T}"/>'s rule in turn within every round as well.
    /// </summary>
    private static void Report(string name, double flops, int rounds, Action run)
    {
        var reps = Math.Max(1, (int)(4e9 / flops));
        var sides = s_abDirectB ? 2 : 1;
        var times = new List<double>[4];
        var cpu = new List<double>[4];
        for (var i = 0; i < 4; i++)
        {
            (times[i], cpu[i]) = ([], []);
        }

        for (var round = 0; round < rounds + 2; round++)
        {
            for (var t = 0; t < 2; t++)
            {
                for (var side = 0; side < sides; side++)
                {
                    Tensor.SetNumThreads(t + 1);
                    Gemm.ThreadsOverride = t + 1;
                    if (s_abDirectB)
                    {
                        Gemm.DirectBDisabled = side == 0;
                    }

                    var cpu0 = ProcessCpuSeconds();
                    var watch = Stopwatch.StartNew();
                    for (var r = 0; r < reps; r++)
                    {
                        run();
                    }

                    if (round >= 2)
                    {
                        times[2 * t + side].Add(watch.Elapsed.TotalSeconds / reps);
                        cpu[2 * t + side].Add((ProcessCpuSeconds() - cpu0) / reps);
                    }
                }
            }
        }

        Tensor.SetNumThreads(Environment.ProcessorCount);
        Gemm.ThreadsOverride = 0;
        double Median(List<double> list) => list.Order().ElementAt(list.Count / 2);
        var line = $"{name,-32}";
        for (var t = 0; t < 2; t++)
        {
            var median = Median(times[2 * t]);
            var cpuMedian = Median(cpu[2 * t]);
            line += $"  t={t + 1}: {median * 1e6,9:F1} us {flops / median / 1e9,6:F1} GFLOP/s (CPU {cpuMedian * 1e6,9:F1} us, {flops / cpuMedian / 1e9,6:F1} per core-s)";
            if (s_abDirectB)
            {
                line += $" direct B {Median(times[2 * t + 1]) * 1e6,9:F1} us, CPU {Median(cpu[2 * t + 1]) / cpuMedian:F3}x";
            }
        }

        Console.WriteLine(line);
    }

    /// <summary>
    /// The process's CPU time (clock_gettime of CLOCK_PROCESS_CPUTIME_ID): on a loaded machine it leaves out
    /// the time others held the cores, though it counts the workers' spin-waits.
    /// </summary>
    private static double ProcessCpuSeconds()
    {
        const int processCpuTime = 2;
        _ = ClockGetTime(processCpuTime, out var ts);
        return ts.Seconds + ts.Nanoseconds * 1e-9;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    private static float[] Fill(Random random, int length)
    {
        var x = new float[length];
        for (var i = 0; i < length; i++)
        {
            x[i] = (float)(random.NextDouble() - 0.5);
        }

        return x;
    }
}
