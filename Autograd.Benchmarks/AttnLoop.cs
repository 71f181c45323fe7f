using System.Diagnostics;

namespace Autograd.Benchmarks;

/// <summary>
/// `attnloop [threads] [calls] [fwd|fwdbwd] [b h t d] [--gpt] [--cold] [--ab-layout | --ab layout|keep-probabilities]`: causal <c>ScaledDotProductAttention</c> alone at one
/// thread count (the GPT's [12, 4, 64, 32] by default), settled with <see cref="Tensor.Warmup"/> and then
/// timed over <c>calls</c> calls, printing the median. The backward takes a random cotangent; `--gpt` makes q, k and v
/// head views of one [b, t, 3·h·d] tensor, as the GPT's attention gets them (and the gradient is that tensor's). A profiling target (`perf record` sees only this);
/// `workloads --only attention_` is the figure to report.
/// </summary>
internal static class AttnLoop
{
    public static int Run(string[] args)
    {
        var threads = args.Length > 0 ? int.Parse(args[0]) : 1;
        var calls = args.Length > 1 ? int.Parse(args[1]) : 2000;
        var backward = args.Length > 2 && args[2] == "fwdbwd";
        var shape = args.Skip(3).Where(a => !a.StartsWith("--")).ToArray();
        int[] dims = shape.Length == 4 ? [.. shape.Select(int.Parse)] : [12, 4, 64, 32];
        Tensor.SetNumThreads(threads);
        var g = new Generator(6);
        // The inputs: three [b, h, t, d] tensors, or (--gpt) head views of one [b, t, 3·h·d] tensor, made in each call
        // as the GPT's attention makes them, its output merged back to [b, t, h·d] (and the gradient is x's).
        Tensor<float>[] leaves;
        Func<(Tensor<float>, Tensor<float>, Tensor<float>)> inputs;
        Func<Tensor<float>, Tensor<float>> merge = y => y;
        int[] outShape = dims;
        if (args.Contains("--gpt"))
        {
            var (b, h, t, d) = (dims[0], dims[1], dims[2], dims[3]);
            var x = Tensor.Randn<float>([b, t, 3 * h * d], g, requiresGrad: backward);
            leaves = [x];
            inputs = () =>
            {
                var qkv = (backward ? x * 1f : x).Split(h * d, 2);   // a computed tensor, as the GPT's projection (a leaf's split sums whole gradients)
                return (Heads(qkv[0]), Heads(qkv[1]), Heads(qkv[2]));
            };
            merge = y => y.Transpose(1, 2).Reshape(b, t, h * d);
            outShape = [b, t, h * d];
            Tensor<float> Heads(Tensor<float> part) => part.View(b, t, h, d).Transpose(1, 2);
        }
        else
        {
            var (q, k, v) = (Tensor.Randn<float>(dims, g, requiresGrad: backward), Tensor.Randn<float>(dims, g, requiresGrad: backward), Tensor.Randn<float>(dims, g, requiresGrad: backward));
            leaves = [q, k, v];
            inputs = () => (q, k, v);
        }

        var dy = Tensor.Randn<float>(outShape, g);
        Action call = backward
            ? () =>
            {
                var (q, k, v) = inputs();
                Tensor.Grad(merge(Tensor.ScaledDotProductAttention(q, k, v, isCausal: true)), leaves, dy);
            }
            : () =>
            {
                using (Tensor.NoGrad())
                {
                    var (q, k, v) = inputs();
                    merge(Tensor.ScaledDotProductAttention(q, k, v, isCausal: true));
                }
            };

        // --cold: evict the operands before each call (8 MiB of other data, untimed), as a model's other layers do
        // between its attention calls.
        var other = args.Contains("--cold") ? new float[2 << 20] : [];
        void Evict()
        {
            for (var i = 0; i < other.Length; i += 16)
            {
                other[i] += 1;
            }
        }

        // One timed call (the eviction before it untimed), ms.
        double Time()
        {
            Evict();
            var a = Stopwatch.GetTimestamp();
            call();
            return Stopwatch.GetElapsedTime(a).TotalMilliseconds;
        }

        var settle = Tensor.Warmup(call, TimeSpan.FromSeconds(10));
        var abAt = Array.IndexOf(args, "--ab");
        if (args.Contains("--ab-layout") || abAt >= 0)
        {
            // In-process A/B: blocks of 25 calls with a switch off and on, alternating.
            var name = abAt >= 0 ? args[abAt + 1] : "layout";
            Action<bool> toggle = name switch
            {
                "layout" => on => ScaledDotProductAttentionExtensions.ContiguousResults = !on,
                "keep-probabilities" => on => Autograd.Kernels.AttentionTiles.KeepProbabilitiesDisabled = !on,
                _ => throw new ArgumentException($"attnloop: unknown switch '{name}' (known: layout, keep-probabilities)."),
            };
            var (on, off) = (new List<double>(), new List<double>());
            for (var block = 0; block < calls / 25; block++)
            {
                toggle(block % 2 == 0);
                for (var i = 0; i < 25; i++)
                {
                    (block % 2 == 0 ? on : off).Add(Time());
                }
            }

            toggle(true);
            on.Sort();
            off.Sort();
            Console.WriteLine($"attnloop {(backward ? "fwdbwd" : "fwd")} [{string.Join(", ", dims)}] t={threads}: {name} on {on[on.Count / 2]:F4} ms, off {off[off.Count / 2]:F4} ms (medians, alternating blocks of 25)");
            return 0;
        }

        var times = new double[calls];
        for (var i = 0; i < calls; i++)
        {
            times[i] = Time();
        }

        Array.Sort(times);
        Console.WriteLine($"attnloop {(backward ? "fwdbwd" : "fwd")} [{string.Join(", ", dims)}] t={threads}: median {times[calls / 2]:F4} ms, min {times[0]:F4} ms over {calls} calls (settled {settle.Settled} after {settle.Calls})");
        return 0;
    }
}
