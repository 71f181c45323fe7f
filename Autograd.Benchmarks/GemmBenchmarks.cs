using Autograd.Kernels;
using BenchmarkDotNet.Attributes;

namespace Autograd.Benchmarks;

/// <summary>Square, contiguous float GEMM (C = A·B); GFLOP/s = 2n³ / time.</summary>
[MemoryDiagnoser]
public class GemmBenchmarks
{
    private float[] _a = [];
    private float[] _b = [];
    private float[] _c = [];

    [Params(128, 256, 512, 1024)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _a = new float[N * N];
        _b = new float[N * N];
        _c = new float[N * N];
        for (var i = 0; i < _a.Length; i++)
        {
            _a[i] = (float)(random.NextDouble() - 0.5);
            _b[i] = (float)(random.NextDouble() - 0.5);
        }
    }

    [Benchmark]
    public void MultiplyFloat() =>
        Gemm.Multiply(N, N, N, _a, 0, N, 1, _b, 0, N, 1, _c, 0, N, accumulate: false);
}
