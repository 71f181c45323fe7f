using System.Diagnostics;
using Autograd.Kernels;

namespace Autograd.Benchmarks;

/// <summary>
/// The worker pool's hand-off cost (<c>poolprobe</c>): jobs of two items of <c>work</c> µs each, with
/// <c>gap</c> µs of the caller's own work between jobs (the serial ops between two parallel ones), timed
/// at 2 threads against the same items run inline, for each spin budget of the pool's workers. Prints
/// per job: the median time at 2 threads and at 1, the share of jobs a worker joined, and the median
/// time from the offer to the worker's first item (its wake-up latency).
/// </summary>
internal static class PoolProbe
{
    public static int Run(string[] args)
    {
        var spins = args.Length > 0 ? args[0].Split(',').Select(int.Parse).ToArray() : [0, 50, 200];
        int[] gaps = [0, 20, 100, 500, 2000];
        const double work = 20;
        var jobs = 2000;
        Console.WriteLine($"poolprobe: 2 items of {work} µs per job, {jobs} jobs per row, processors {Environment.ProcessorCount}");
        Console.WriteLine("spin_us  gap_us  2thr_us  1thr_us  ratio  joined  wake_us");
        var previous = Threads.Pool.SpinMicroseconds;
        foreach (var spin in spins)
        {
            Threads.Pool.SpinMicroseconds = spin;
            foreach (var gap in gaps)
            {
                var two = new double[jobs];
                var one = new double[jobs];
                var wake = new List<double>(jobs);
                var joined = 0;
                for (var j = 0; j < jobs; j++)
                {
                    Busy(gap);
                    var caller = Environment.CurrentManagedThreadId;
                    var t0 = Stopwatch.GetTimestamp();
                    long helperStart = 0;
                    Threads.Claim(
                        2,
                        2,
                        static () => 0,
                        (i, _) =>
                        {
                            if (Environment.CurrentManagedThreadId != caller)
                            {
                                Volatile.Write(ref helperStart, Stopwatch.GetTimestamp());
                            }

                            Busy(work);
                        },
                        static _ => { });
                    two[j] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
                    if (Volatile.Read(ref helperStart) is var hs and > 0)
                    {
                        joined++;
                        wake.Add(Stopwatch.GetElapsedTime(t0, hs).TotalMicroseconds);
                    }

                    Busy(gap);
                    t0 = Stopwatch.GetTimestamp();
                    Busy(work);
                    Busy(work);
                    one[j] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
                }

                var m2 = Median(two);
                var m1 = Median(one);
                Console.WriteLine($"{spin,7} {gap,7} {m2,8:F1} {m1,8:F1} {m2 / m1,6:F2} {(double)joined / jobs,7:P0} {(wake.Count > 0 ? Median([.. wake]) : double.NaN),8:F1}");
            }
        }

        Threads.Pool.SpinMicroseconds = previous;
        return 0;
    }

    private static void Busy(double microseconds)
    {
        var end = Stopwatch.GetTimestamp() + (long)(microseconds * Stopwatch.Frequency / 1e6);
        while (Stopwatch.GetTimestamp() < end)
        {
        }
    }

    private static double Median(double[] values)
    {
        Array.Sort(values);
        return values[values.Length / 2];
    }
}
