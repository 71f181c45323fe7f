using Autograd.Kernels;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Autograd.Benchmarks;

/// <summary>
/// Square, contiguous float GEMM (C = A·B). Worker count follows AUTOGRAD_NUM_THREADS (default: all
/// cores), which the benchmark child process inherits.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[Config(typeof(GflopsConfig))]
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

    private sealed class GflopsConfig : ManualConfig
    {
        public GflopsConfig() => AddColumn(new GflopsColumn());
    }

    /// <summary>2n³ / median: the rate the peers' tables report.</summary>
    private sealed class GflopsColumn : IColumn
    {
        public string Id => nameof(GflopsColumn);

        public string ColumnName => "GFLOP/s (median)";

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => "2·N³ floating-point operations divided by the median time";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
        {
            var statistics = summary[benchmarkCase]?.ResultStatistics;
            if (statistics is null || benchmarkCase.Parameters["N"] is not int n)
            {
                return "-";
            }

            return (2.0 * n * n * n / statistics.Median).ToString("F1");
        }

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public bool IsAvailable(Summary summary) => true;
    }
}
