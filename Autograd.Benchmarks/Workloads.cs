using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using Autograd.Kernels;

namespace Autograd.Benchmarks;

/// <summary>
/// The peers' workloads (../shared/peers/WORKLOADS.md §1-7) on this engine, with the peers' timing rules
/// (the same warm-up, repetition and median rules as ../shared/peers/torchsharp/Program.cs), writing
/// their JSON schema with "peer": "autograd" so that ../shared/peers/compare.py shows a column for it.
/// </summary>
/// <remarks>
/// <code>
/// dotnet run -c Release --project Autograd.Benchmarks -- workloads --out FILE [--quick] [--only PREFIXES]
///     [--no-train] [--epochs N] [--data DIR] [--peer NAME] [--lenet-warmup N] [--no-settle]
/// </code>
/// --only takes comma-separated section names or result-id prefixes (tape, matmul, conv, pool, relu,
/// transformer, lenet, train; e.g. "conv_fwd/c2,lenet,gpt_step"). The LeNet-5 and GPT steps also report memory counters per step (GC
/// collections by generation, minor page faults, bytes allocated, pool refills) and the peak working set.
/// --lenet-warmup N runs N untimed steps before the LeNet-5 step's timing instead of the peers' 20: the
/// JIT's tier-up of the step's code takes a few hundred steps and, at 2 threads, competes with the second
/// thread for the machine's two cores, so 20 steps measure part of it.
/// After the peers' warm-up every workload runs <see cref="Tensor.Warmup"/>, the library's call that repeats a
/// step until the JIT has compiled nothing for 40 calls and 0.5 s (at most 30 s for the LeNet, GPT and tape steps,
/// 3 s for the others), and records its calls and whether it settled; --no-settle leaves only the peers' rule.
/// </remarks>
internal static class Workloads
{
    private static readonly JsonArray s_results = [];
    private static bool s_quick;
    private static int s_warmIters = 2;
    private static int s_minReps = 5;
    private static int s_maxReps = 1000;
    private static double s_warmSec = 0.3;
    private static double s_minSec = 1.0;
    private static List<string> s_only = [];
    private static int s_lenetWarmup = 20;
    private static bool s_settle = true;
    private static WarmupResult? s_lastSettle;

    private record Stat(double Median, double Min, int Reps);

    public static int Run(string[] args)
    {
        string outPath = "autograd.json", dataDir = "/usr/share/datasets/fashion-mnist", peer = "autograd";
        var train = true;
        var epochs = 3;
        int[] threadCounts = [2, 1];
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--out": outPath = args[++i]; break;
                case "--peer": peer = args[++i]; break;
                case "--quick": s_quick = true; break;
                case "--no-train": train = false; break;
                case "--epochs": epochs = int.Parse(args[++i]); break;
                case "--data": dataDir = args[++i]; break;
                case "--only": s_only = [.. args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries)]; break;
                case "--lenet-warmup": s_lenetWarmup = int.Parse(args[++i]); break;
                case "--no-settle": s_settle = false; break;
                case "--threads": threadCounts = [.. args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)]; break;
                default: Console.Error.WriteLine($"workloads: unknown argument {args[i]}"); return 2;
            }
        }

        if (s_quick)
        {
            (s_minSec, s_minReps, s_warmIters, s_warmSec) = (0.05, 2, 1, 0.0);
            s_settle = false;
        }

        var started = DateTime.UtcNow;
        var load0 = LoadAvg();
        var defaultThreads = Tensor.NumThreads;
        Console.WriteLine($"Autograd workloads, .NET {Environment.Version}, default threads {defaultThreads}, server GC {System.Runtime.GCSettings.IsServerGC}");
        JsonObject? memory = null;
        foreach (var t in threadCounts)
        {
            if (t == 2 && Section("tape"))
            {
                Tape(t);
            }

            if (Section("matmul"))
            {
                Matmul(t);
            }

            if (t == 2 && Section("conv"))
            {
                Conv(t);
            }

            if (t == 2 && Section("pool"))
            {
                Pool(t);
            }

            if (t == 2 && Section("relu"))
            {
                Relu(t);
            }

            if (Section("transformer"))
            {
                Transformer(t);
            }

            if (Section("lenet"))
            {
                var m = LeNetStep(t);
                memory ??= m;
            }
        }

        JsonObject? trainResult = null;
        if (train && Section("train"))
        {
            trainResult = Train(2, dataDir, epochs);
        }

        Tensor.SetNumThreads(defaultThreads);
        var doc = new JsonObject
        {
            ["peer"] = peer,
            ["versions"] = new JsonObject
            {
                ["autograd"] = typeof(Tensor).Assembly.GetName().Version?.ToString(),
                ["dotnet"] = Environment.Version.ToString(),
                ["tiered_pgo"] = Environment.GetEnvironmentVariable("DOTNET_TieredPGO") ?? "default",
                ["server_gc"] = System.Runtime.GCSettings.IsServerGC,
                ["env"] = new JsonObject(new[] { "AUTOGRAD_NUM_THREADS", "DOTNET_TieredCompilation", "DOTNET_gcServer", "DOTNET_GCgen0size", "DOTNET_EnableAVX512", "DOTNET_EnableAVX512F" }
                    .Where(k => Environment.GetEnvironmentVariable(k) != null)
                    .Select(k => KeyValuePair.Create(k, (JsonNode?)Environment.GetEnvironmentVariable(k)))),
                ["backends"] = "pure managed C# (own GEMM, im2col convolution, TensorPrimitives elementwise), pooled tensor buffers",
            },
            ["quick"] = s_quick,
            ["started_utc"] = started.ToString("o"),
            ["finished_utc"] = DateTime.UtcNow.ToString("o"),
            ["loadavg_start"] = new JsonArray([.. load0.Select(v => (JsonNode?)v)]),
            ["loadavg_end"] = new JsonArray([.. LoadAvg().Select(v => (JsonNode?)v)]),
            ["timing"] = $"warm-up >= {s_warmIters} calls and >= {s_warmSec} s"
                + (s_settle ? ", then Tensor.Warmup until the JIT settles (3 s at most; 30 s for the LeNet, GPT and tape steps)" : "")
                + $"; then >= {s_minReps} timed calls and >= {s_minSec} s (max {s_maxReps}); median reported",
            ["results"] = s_results,
            ["train"] = trainResult,
            ["memory"] = memory,
        };
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        File.WriteAllText(outPath, doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"wrote {outPath}");
        return 0;
    }

    // ---------------------------------------------------------------- selection and timing

    /// <summary>True when --only is empty or names this section, or a result id inside it.</summary>
    private static bool Section(string name) =>
        s_only.Count == 0 || s_only.Any(o => o == name || o.StartsWith(SectionPrefix(name), StringComparison.Ordinal) || SectionPrefix(name).StartsWith(o, StringComparison.Ordinal)
            || (name == "transformer" && s_transformerIds.Any(id => o.StartsWith(id, StringComparison.Ordinal) || id.StartsWith(o, StringComparison.Ordinal))));

    /// <summary>The transformer section's result ids have no common prefix: each of its kinds.</summary>
    private static readonly string[] s_transformerIds = ["attention_", "embedding_", "layernorm_", "gpt_step"];

    /// <summary>True when --only is empty or admits this result id (its section's name or a prefix of the id).</summary>
    private static bool Wanted(string id, string section) =>
        s_only.Count == 0 || s_only.Any(o => o == section || id.StartsWith(o, StringComparison.Ordinal));

    private static string SectionPrefix(string section) => section switch
    {
        "pool" => "maxpool",
        "lenet" => "lenet_step",
        "tape" => "tape_10k",
        _ => section,
    };

    /// <summary>Warm-up of at least WarmIters calls and WarmSec seconds, then timed calls until MinReps and MinSec (max MaxReps).</summary>
    private static Stat Measure(Action f)
    {
        var w0 = Stopwatch.GetTimestamp();
        for (var i = 0; i < s_warmIters || Stopwatch.GetElapsedTime(w0).TotalSeconds < s_warmSec; i++)
        {
            f();
        }

        Settle(f, 3);
        var times = new List<double>();
        var s0 = Stopwatch.GetTimestamp();
        while (times.Count < s_minReps || (Stopwatch.GetElapsedTime(s0).TotalSeconds < s_minSec && times.Count < s_maxReps))
        {
            var a = Stopwatch.GetTimestamp();
            f();
            times.Add(Stopwatch.GetElapsedTime(a).TotalMilliseconds);
        }

        return Summarize(times);
    }

    /// <summary>
    /// <see cref="Tensor.Warmup"/> on <paramref name="step"/> (unless --no-settle or --quick), kept for the next
    /// <see cref="Record"/>.
    /// </summary>
    private static void Settle(Action step, double limitSeconds) =>
        s_lastSettle = s_settle ? Tensor.Warmup(step, TimeSpan.FromSeconds(limitSeconds)) : null;

    private static Stat Summarize(List<double> t)
    {
        var s = t.Order().ToArray();
        var median = s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[(s.Length / 2) - 1] + s[s.Length / 2]);
        return new Stat(median, s[0], s.Length);
    }

    private static JsonObject Record(string id, int threads, Stat st, params (string Key, double Value)[] extra)
    {
        var o = new JsonObject
        {
            ["id"] = id,
            ["threads"] = threads,
            ["median_ms"] = Math.Round(st.Median, 4),
            ["min_ms"] = Math.Round(st.Min, 4),
            ["reps"] = st.Reps,
        };
        foreach (var (k, v) in extra)
        {
            o[k] = Math.Round(v, 3);
        }

        var settle = "";
        if (s_lastSettle is { } w)
        {
            o["settle_calls"] = w.Calls;
            o["settle_s"] = Math.Round(w.Elapsed.TotalSeconds, 3);
            o["settled"] = w.Settled;
            settle = $"  settle {w.Calls} calls {w.Elapsed.TotalSeconds:F1} s{(w.Settled ? "" : " (limit)")}";
            s_lastSettle = null;
        }

        s_results.Add(o);
        Console.WriteLine($"{id,-34} t={threads}  median {st.Median,10:F3} ms  min {st.Min,10:F3} ms  n={st.Reps,4}"
            + string.Concat(extra.Select(e => $"  {e.Key}={e.Value:F2}")) + settle);
        return o;
    }

    // ---------------------------------------------------------------- 1. matmul

    private static void Matmul(int threads)
    {
        Tensor.SetNumThreads(threads);
        foreach (var n in new[] { 128, 256, 512, 1024, 2048 })
        {
            var id = $"matmul_fwd/n={n}";
            if (!Wanted(id, "matmul"))
            {
                continue;
            }

            var g = new Generator(1);
            var a = Tensor.Randn<float>([n, n], g);
            var b = Tensor.Randn<float>([n, n], g);
            Stat st;
            using (Tensor.NoGrad())
            {
                st = Measure(() => a.MatMul(b));
            }

            Record(id, threads, st, ("gflops", 2.0 * n * n * n / (st.Median * 1e-3) / 1e9));
        }

        foreach (var n in new[] { 512, 1024 })
        {
            var id = $"matmul_fwdbwd/n={n}";
            if (!Wanted(id, "matmul"))
            {
                continue;
            }

            var g = new Generator(1);
            var a = Tensor.Randn<float>([n, n], g, requiresGrad: true);
            var b = Tensor.Randn<float>([n, n], g, requiresGrad: true);
            var st = Measure(() =>
            {
                a.Grad = null;
                b.Grad = null;
                a.MatMul(b).Sum().Backward();
            });
            Record(id, threads, st, ("gflops", 6.0 * n * n * n / (st.Median * 1e-3) / 1e9));
        }
    }

    // ---------------------------------------------------------------- 2. conv2d

    private static readonly (string Name, int N, int C, int H, int W, int F, int K, int S, int P)[] s_convs =
    [
        ("c1", 64, 1, 28, 28, 6, 5, 1, 2),
        ("c2", 64, 32, 28, 28, 64, 3, 1, 1),
        ("c3", 32, 64, 56, 56, 64, 3, 1, 1),
        ("c4", 32, 64, 56, 56, 128, 3, 2, 1),
    ];

    private static void Conv(int threads)
    {
        Tensor.SetNumThreads(threads);
        foreach (var c in s_convs)
        {
            bool fwd = Wanted($"conv_fwd/{c.Name}", "conv"), fb = Wanted($"conv_fwdbwd/{c.Name}", "conv");
            if (!fwd && !fb)
            {
                continue;
            }

            var g = new Generator(2);
            var x = Tensor.Randn<float>([c.N, c.C, c.H, c.W], g, requiresGrad: true);
            var w = Tensor.Randn<float>([c.F, c.C, c.K, c.K], g, requiresGrad: true);
            var b = Tensor.Randn<float>([c.F], g, requiresGrad: true);
            long oh = ((c.H + (2 * c.P) - c.K) / c.S) + 1, ow = ((c.W + (2 * c.P) - c.K) / c.S) + 1;
            var flops = 2.0 * c.N * c.F * c.C * c.K * c.K * oh * ow;
            if (fwd)
            {
                Stat st;
                using (Tensor.NoGrad())
                {
                    st = Measure(() => x.Conv2d(w, b, stride: c.S, padding: c.P));
                }

                Record($"conv_fwd/{c.Name}", threads, st, ("gflops", flops / (st.Median * 1e-3) / 1e9));
            }

            if (fb)
            {
                var st = Measure(() =>
                {
                    x.Grad = null;
                    w.Grad = null;
                    b.Grad = null;
                    x.Conv2d(w, b, stride: c.S, padding: c.P).Sum().Backward();
                });
                Record($"conv_fwdbwd/{c.Name}", threads, st, ("fwd_gflops_equiv", 3 * flops / (st.Median * 1e-3) / 1e9));
            }
        }
    }

    // ---------------------------------------------------------------- 3. max_pool2d

    private static void Pool(int threads)
    {
        Tensor.SetNumThreads(threads);
        foreach (var (name, k, s, p) in new[] { ("k2s2", 2, 2, 0), ("k3s2p1", 3, 2, 1) })
        {
            var x = Tensor.Randn<float>([64, 64, 28, 28], new Generator(3), requiresGrad: true);
            if (Wanted($"maxpool_fwd/{name}", "pool"))
            {
                Stat st;
                using (Tensor.NoGrad())
                {
                    st = Measure(() => x.MaxPool2d(k, s, p));
                }

                Record($"maxpool_fwd/{name}", threads, st);
            }

            if (Wanted($"maxpool_fwdbwd/{name}", "pool"))
            {
                var st = Measure(() =>
                {
                    x.Grad = null;
                    x.MaxPool2d(k, s, p).Sum().Backward();
                });
                Record($"maxpool_fwdbwd/{name}", threads, st);
            }
        }
    }

    // ---------------------------------------------------------------- 4. relu

    private static void Relu(int threads)
    {
        Tensor.SetNumThreads(threads);
        const int n = 16 << 20;
        var x = Tensor.Randn<float>([n], new Generator(4), requiresGrad: true);
        if (Wanted("relu_fwd/16M", "relu"))
        {
            Stat st;
            using (Tensor.NoGrad())
            {
                st = Measure(() => x.Relu());
            }

            Record("relu_fwd/16M", threads, st, ("gbps_8B_per_elem", 8.0 * n / (st.Median * 1e-3) / 1e9));
        }

        if (Wanted("relu_fwdbwd/16M", "relu"))
        {
            var st = Measure(() =>
            {
                x.Grad = null;
                x.Relu().Sum().Backward();
            });
            Record("relu_fwdbwd/16M", threads, st, ("gbps_20B_per_elem", 20.0 * n / (st.Median * 1e-3) / 1e9));
        }
    }

    // ---------------------------------------------------------------- the GPT's layers (WORKLOADS.md §8's model)

    /// <summary>
    /// The pieces of gpt_char.py's step on their own, at 1 and 2 threads: causal attention at the GPT's
    /// [12, 4, 64, 32] and at [8, 8, 256, 64], forward (no grad) and forward+backward; the token embedding
    /// ([65, 128] table, [12, 64] ids) and the bias-free LayerNorm over [12, 64, 128], forward+backward.
    /// scripts/transformer-peer.py times PyTorch's composed attention and the same layers with this schema.
    /// </summary>
    private static void Transformer(int threads)
    {
        Tensor.SetNumThreads(threads);
        var g = new Generator(6);
        foreach (var (b, h, t, d) in new[] { (12, 4, 64, 32), (8, 8, 256, 64) })
        {
            var shape = $"{b}x{h}x{t}x{d}";
            var q = Tensor.Randn<float>([b, h, t, d], g, requiresGrad: true);
            var k = Tensor.Randn<float>([b, h, t, d], g, requiresGrad: true);
            var v = Tensor.Randn<float>([b, h, t, d], g, requiresGrad: true);
            // QKᵀ and PV, causal: half of the 4·b·h·t²·d multiply-adds of the full products.
            var flops = 2.0 * b * h * t * t * d;
            if (Wanted($"attention_fwd/{shape}", "transformer"))
            {
                Stat st;
                using (Tensor.NoGrad())
                {
                    st = Measure(() => Tensor.ScaledDotProductAttention(q, k, v, isCausal: true));
                }

                Record($"attention_fwd/{shape}", threads, st, ("gflops", flops / (st.Median * 1e-3) / 1e9));
            }

            if (Wanted($"attention_fwdbwd/{shape}", "transformer"))
            {
                var st = Measure(() =>
                {
                    q.Grad = k.Grad = v.Grad = null;
                    Tensor.ScaledDotProductAttention(q, k, v, isCausal: true).Sum().Backward();
                });
                Record($"attention_fwdbwd/{shape}", threads, st, ("gflops", 3.5 * flops / (st.Median * 1e-3) / 1e9));
            }
        }

        if (Wanted("embedding_fwdbwd/65x128", "transformer"))
        {
            var table = Tensor.Randn<float>([65, 128], g, requiresGrad: true);
            var rng = new Random(6);
            var ids = IndexTensor.FromArray([.. Enumerable.Range(0, 12 * 64).Select(_ => (long)rng.Next(65))], [12, 64]);
            var st = Measure(() =>
            {
                table.Grad = null;
                table.Embedding(ids).Sum().Backward();
            });
            Record("embedding_fwdbwd/65x128", threads, st);
        }

        if (Wanted("layernorm_fwdbwd/12x64x128", "transformer"))
        {
            var x = Tensor.Randn<float>([12, 64, 128], g, requiresGrad: true);
            var w = Tensor.Ones<float>([128]);
            w.RequiresGrad = true;
            var st = Measure(() =>
            {
                x.Grad = w.Grad = null;
                x.LayerNorm([128], w).Sum().Backward();
            });
            Record("layernorm_fwdbwd/12x64x128", threads, st);
        }

        GptStep(threads);
    }

    /// <summary>
    /// gpt_step/b12t64: one training step of the GPT job (Autograd.Example's CharGpt and GptJob.Step: the recipe of
    /// gpt_char.py, batch 12 × 64, vocabulary 65: forward, loss, backward, global-norm clip, AdamW with the
    /// schedule), on a synthetic training split of 100,000 uniform token ids (a step's cost does not depend on
    /// the text). 50 untimed steps (the JIT's tier-up), then the median of 150 timed ones (20 and 20 with
    /// --quick), with the LeNet step's memory counters per step. scripts/transformer-peer.py runs the same step
    /// in PyTorch.
    /// </summary>
    private static void GptStep(int threads)
    {
        if (!Wanted("gpt_step/b12t64", "transformer"))
        {
            return;
        }

        Tensor.SetNumThreads(threads);
        var tokens = new Generator(1337);
        var train = new int[100_000];
        for (var i = 0; i < train.Length; i++)
        {
            train[i] = tokens.NextInt(65);
        }

        var model = new Autograd.Example.CharGpt(new Autograd.Example.GptConfig(65), new Generator(1337));
        var job = new Autograd.Example.GptJob(model, train, 2000, new Generator(7));
        int warm = s_quick ? 20 : 50, steps = s_quick ? 20 : 150;
        for (var i = 0; i < warm; i++)
        {
            job.Step(i);
        }

        var next = warm;
        Settle(() => job.Step(next++), 30);
        var times = new List<double>(steps);
        var before = MemoryCounters.Take();
        for (var i = 0; i < steps; i++)
        {
            var a = Stopwatch.GetTimestamp();
            job.Step(next + i);
            times.Add(Stopwatch.GetElapsedTime(a).TotalMilliseconds);
        }

        RecordStep("gpt_step/b12t64", threads, times, before, warm, ("tokens_per_s", 12 * 64 / (Summarize(times).Median * 1e-3)));
    }

    // ---------------------------------------------------------------- 5. tape overhead

    private static void Tape(int threads)
    {
        Tensor.SetNumThreads(threads);
        const int pairs = 5000;
        var x = Tensor.FromArray([1f], [1], requiresGrad: true);
        var s1 = Tensor.Scalar(1.0001f);
        var s2 = Tensor.Scalar(0.0001f);
        foreach (var variant in new[] { "prealloc_scalars", "literal_scalars" })
        {
            if (!Wanted($"tape_10k/{variant}", "tape"))
            {
                continue;
            }

            List<double> fw = [], bw = [], total = [];
            int warm = s_quick ? 2 : 5, reps = s_quick ? 5 : 30;
            float check = 0;
            for (var it = 0; it < warm; it++)
            {
                Iteration();
            }

            Settle(() => Iteration(), 30);
            for (var it = 0; it < reps; it++)
            {
                var (tf, tb, tt) = Iteration();
                fw.Add(tf);
                bw.Add(tb);
                total.Add(tt);
            }

            (double Forward, double Backward, double Total) Iteration()
            {
                var t0 = Stopwatch.GetTimestamp();
                x.Grad = null;
                var y = x;
                if (variant == "prealloc_scalars")
                {
                    for (var i = 0; i < pairs; i++)
                    {
                        y = y.Mul(s1);
                        y = y.Add(s2);
                    }
                }
                else
                {
                    for (var i = 0; i < pairs; i++)
                    {
                        y = y * 1.0001f;
                        y = y + 0.0001f;
                    }
                }

                var tf = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                y.Backward();
                var tb = Stopwatch.GetElapsedTime(t0).TotalMilliseconds - tf;
                check = x.Grad!.Item();

                // Freeing the graph is the GC's business: nothing to time beyond dropping the reference.
                return (tf, tb, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }

            var st = Summarize(total);
            Record(
                $"tape_10k/{variant}",
                threads,
                st,
                ("us_per_op", st.Median * 1e3 / (2 * pairs)),
                ("fwd_us_per_op", Summarize(fw).Median * 1e3 / (2 * pairs)),
                ("bwd_us_per_op", Summarize(bw).Median * 1e3 / (2 * pairs)),
                ("dx", check));
        }
    }

    // ---------------------------------------------------------------- 6. LeNet-5 step

    private static JsonObject? LeNetStep(int threads)
    {
        if (!Wanted("lenet_step/b64", "lenet"))
        {
            return null;
        }

        Tensor.SetNumThreads(threads);
        var model = new LeNet(new Generator(0));
        var g = new Generator(5);
        var xb = Tensor.Randn<float>([64, 1, 28, 28], g);
        var yb = Enumerable.Range(0, 64).Select(_ => g.NextInt(10)).ToArray();
        int warm = s_lenetWarmup, steps = s_quick ? 20 : 200;
        for (var i = 0; i < warm; i++)
        {
            model.Step(xb, yb);
        }

        Settle(() => model.Step(xb, yb), 30);
        var times = new List<double>(steps);
        var before = MemoryCounters.Take();
        for (var i = 0; i < steps; i++)
        {
            var a = Stopwatch.GetTimestamp();
            model.Step(xb, yb);
            times.Add(Stopwatch.GetElapsedTime(a).TotalMilliseconds);
        }

        return RecordStep("lenet_step/b64", threads, times, before, warm);
    }

    /// <summary>A training step's row: the median of <paramref name="times"/>, and the memory counters per step since <paramref name="before"/>.</summary>
    private static JsonObject RecordStep(string id, int threads, List<double> times, MemoryCounters before, int warm, params (string Key, double Value)[] extra)
    {
        var steps = times.Count;
        var perStep = MemoryCounters.Take().PerStep(before, steps);
        var o = Record(id, threads, Summarize(times), extra);
        o["warmup_steps"] = warm;
        foreach (var (k, v) in perStep)
        {
            o[k] = Math.Round(v, 3);
        }

        Console.WriteLine("    per step: " + string.Join(", ", perStep.Select(p => $"{p.Key} {p.Value:G4}")));
        var memory = new JsonObject { ["workload"] = id, ["threads"] = threads, ["steps"] = steps };
        foreach (var (k, v) in perStep)
        {
            memory[k] = Math.Round(v, 3);
        }

        return memory;
    }

    /// <summary>Process-wide counters sampled around the timed LeNet and GPT steps.</summary>
    private readonly record struct MemoryCounters(int Gen0, int Gen1, int Gen2, long MinorFaults, long Allocated, long PoolFresh, long PoolCollections, long PeakWorkingSet)
    {
        public static MemoryCounters Take()
        {
            using var self = Process.GetCurrentProcess();
            return new(
                GC.CollectionCount(0),
                GC.CollectionCount(1),
                GC.CollectionCount(2),
                ReadMinorFaults(),
                GC.GetTotalAllocatedBytes(precise: true),
                BufferPool.FreshBytes,
                BufferPool.InducedCollections,
                self.PeakWorkingSet64);
        }

        public (string Key, double Value)[] PerStep(MemoryCounters before, int steps) =>
        [
            ("gen0_per_step", (double)(Gen0 - before.Gen0) / steps),
            ("gen1_per_step", (double)(Gen1 - before.Gen1) / steps),
            ("gen2_per_step", (double)(Gen2 - before.Gen2) / steps),
            ("minor_faults_per_step", (double)(MinorFaults - before.MinorFaults) / steps),
            ("managed_bytes_allocated_per_step", (double)(Allocated - before.Allocated) / steps),
            ("pool_fresh_bytes_per_step", (double)(PoolFresh - before.PoolFresh) / steps),
            ("pool_induced_collections_per_step", (double)(PoolCollections - before.PoolCollections) / steps),
            ("peak_working_set_mb", PeakWorkingSet / 1048576.0),
        ];

        /// <summary>Field 10 (minflt) of /proc/self/stat, counted after the parenthesised command name.</summary>
        private static long ReadMinorFaults()
        {
            try
            {
                var stat = File.ReadAllText("/proc/self/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                return long.Parse(fields[7], System.Globalization.CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                return 0;
            }
        }
    }

    // ---------------------------------------------------------------- 7. Fashion-MNIST

    private static JsonObject? Train(int threads, string dataDir, int epochs)
    {
        string[] files = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];
        if (files.Any(f => !File.Exists(Path.Combine(dataDir, f))))
        {
            Console.WriteLine($"train: skipped, Fashion-MNIST not found in {dataDir} (apt-get install dataset-fashion-mnist, or --data DIR)");
            return null;
        }

        Tensor.SetNumThreads(threads);
        var tl = Stopwatch.GetTimestamp();
        var (xtr, ytr, ntr) = LoadSplit(dataDir, "train");
        var (xte, yte, nte) = LoadSplit(dataDir, "t10k");
        var loadS = Stopwatch.GetElapsedTime(tl).TotalSeconds;
        var model = new LeNet(new Generator(0));
        const int bs = 64;
        var n = s_quick ? 64 * 50 : ntr;
        var epochsArr = new JsonArray();
        for (var e = 0; e < epochs; e++)
        {
            var perm = Permutation(ntr, 1000UL + (ulong)e);
            var t0 = Stopwatch.GetTimestamp();
            double lossSum = 0;
            var batches = 0;
            for (var i = 0; i < n; i += bs)
            {
                var m = Math.Min(bs, n - i);
                var xb = Tensor<float>.Uninitialized([m, 1, 28, 28]);
                var labels = new int[m];
                var dst = xb.Data;
                for (var r = 0; r < m; r++)
                {
                    var row = perm[i + r];
                    xtr.AsSpan(row * 784, 784).CopyTo(dst.Slice(r * 784, 784));
                    labels[r] = ytr[row];
                }

                lossSum += model.Step(xb, labels);
                batches++;
            }

            var trainS = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            var t1 = Stopwatch.GetTimestamp();
            var correct = 0;
            using (Tensor.NoGrad())
            {
                for (var i = 0; i < nte; i += 1000)
                {
                    var m = Math.Min(1000, nte - i);
                    var xb = Tensor<float>.Uninitialized([m, 1, 28, 28]);
                    xte.AsSpan(i * 784, m * 784).CopyTo(xb.Data);
                    var logits = model.Forward(xb).ToArray();
                    for (var r = 0; r < m; r++)
                    {
                        var best = 0;
                        for (var k = 1; k < 10; k++)
                        {
                            if (logits[(r * 10) + k] > logits[(r * 10) + best])
                            {
                                best = k;
                            }
                        }

                        correct += best == yte[i + r] ? 1 : 0;
                    }
                }
            }

            var evalS = Stopwatch.GetElapsedTime(t1).TotalSeconds;
            var acc = (double)correct / nte;
            Console.WriteLine($"epoch {e + 1}: train {trainS:F2} s  mean loss {lossSum / batches:F4}  test acc {acc:P2}  (eval {evalS:F2} s)");
            epochsArr.Add(new JsonObject
            {
                ["epoch"] = e + 1,
                ["train_s"] = Math.Round(trainS, 3),
                ["mean_train_loss"] = Math.Round(lossSum / batches, 5),
                ["test_acc"] = Math.Round(acc, 5),
                ["eval_s"] = Math.Round(evalS, 3),
                ["batches"] = batches,
            });
        }

        return new JsonObject { ["threads"] = threads, ["load_s"] = Math.Round(loadS, 3), ["epochs"] = epochsArr };
    }

    /// <summary>Images normalised as (pixel/255 − 0.2860)/0.3530 in row-major [n, 784], labels, and n.</summary>
    private static (float[] X, int[] Y, int N) LoadSplit(string dir, string prefix)
    {
        var images = ReadIdx(Path.Combine(dir, $"{prefix}-images-idx3-ubyte.gz"), out var dims);
        var labels = ReadIdx(Path.Combine(dir, $"{prefix}-labels-idx1-ubyte.gz"), out _);
        var x = new float[images.Length];
        for (var i = 0; i < x.Length; i++)
        {
            x[i] = ((images[i] / 255f) - 0.2860f) / 0.3530f;
        }

        return (x, [.. labels.Select(b => (int)b)], dims[0]);
    }

    /// <summary>A gzip'ed IDX file: big-endian magic (0, 0, type, rank), rank big-endian sizes, then the uint8 data.</summary>
    private static byte[] ReadIdx(string path, out int[] dims)
    {
        using var file = File.OpenRead(path);
        using var gz = new GZipStream(file, CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        gz.CopyTo(buffer);
        var d = buffer.ToArray();
        var rank = d[3];
        dims = new int[rank];
        for (var i = 0; i < rank; i++)
        {
            dims[i] = (d[4 + (4 * i)] << 24) | (d[5 + (4 * i)] << 16) | (d[6 + (4 * i)] << 8) | d[7 + (4 * i)];
        }

        return d.AsSpan(4 + (4 * rank)).ToArray();
    }

    /// <summary>SplitMix64 + Fisher-Yates: the permutation every peer uses (WORKLOADS.md §7).</summary>
    private static int[] Permutation(int n, ulong seed)
    {
        var p = Enumerable.Range(0, n).ToArray();
        var s = seed;
        for (var i = n - 1; i > 0; i--)
        {
            s += 0x9E3779B97F4A7C15UL;
            var z = s;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            var j = (int)(z % (ulong)(i + 1));
            (p[i], p[j]) = (p[j], p[i]);
        }

        return p;
    }

    private static double[] LoadAvg() =>
        [.. File.ReadAllText("/proc/loadavg").Split(' ').Take(3).Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture))];
}
