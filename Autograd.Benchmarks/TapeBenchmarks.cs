using Autograd;
using BenchmarkDotNet.Attributes;

namespace Autograd.Benchmarks;

/// <summary>
/// Tape bookkeeping per op: the peers' tape_10k workload (../shared/peers/WORKLOADS.md §5). x = [1.0]
/// requires grad; 5000 × { y = y·1.0001; y = y + 0.0001 }, then y.Backward(): 10,000 recorded ops on
/// one-element tensors, so the time is the engine's overhead, not arithmetic. µs/op = median / 10,000.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class TapeBenchmarks
{
    private const int Pairs = 5000;

    [Benchmark(Description = "tape_10k forward+backward")]
    public float ForwardBackward()
    {
        var x = Tensor.FromArray(new[] { 1f }, [1], requiresGrad: true);
        var y = x;
        for (var i = 0; i < Pairs; i++)
        {
            y = y * 1.0001f;
            y = y + 0.0001f;
        }

        y.Backward();
        return x.Grad!.Item(); // 1.0001^5000 ≈ 1.6487
    }

    [Benchmark(Description = "tape_10k forward only (recording)")]
    public Tensor<float> ForwardOnly()
    {
        var x = Tensor.FromArray(new[] { 1f }, [1], requiresGrad: true);
        var y = x;
        for (var i = 0; i < Pairs; i++)
        {
            y = y * 1.0001f;
            y = y + 0.0001f;
        }

        return y;
    }

    /// <summary>
    /// Recording in anomaly mode, where every node a C# operator records walks the stack for its line (and
    /// every result is checked for NaN): the cost of naming operators' lines, per node, against ForwardOnly.
    /// </summary>
    [Benchmark(Description = "tape_1k forward only, anomaly mode (operator lines from the stack)")]
    public Tensor<float> ForwardOnlyAnomaly()
    {
        using var anomaly = Tensor.DetectAnomaly();
        var x = Tensor.FromArray(new[] { 1f }, [1], requiresGrad: true);
        var y = x;
        for (var i = 0; i < Pairs / 10; i++)
        {
            y = y * 1.0001f;
            y = y + 0.0001f;
        }

        return y;
    }
}
