using System.Diagnostics;
using Autograd.Kernels;
using Autograd.Testing;
using FsCheck;
using FsCheck.Fluent;

namespace Autograd.Tests.Kernels;

/// <summary>
/// The library's worker pool (<see cref="Threads.Pool"/>) behind <see cref="Threads.Claim"/>, <see cref="Threads.For"/>
/// and <see cref="Threads.ForRanges"/>: every index runs once, with any spin budget, from several callers at once
/// and nested; a parked worker wakes for the next job.
/// </summary>
[NonParallelizable] // Changes the pool's process-wide spin budget.
public class PoolTests
{
    [Test]
    public void EveryIndexRunsOnce_WhateverTheSpinBudget_FromTwoCallersAndNested() =>
        GradProperty.Check(Prop.ForAll(
            Arb.From(
                from count in Gen.Choose(0, 300)
                from workers in Gen.Choose(1, 4)
                from spin in Gen.Elements(0, 5, 200)
                from nested in Gen.Elements(false, true)
                select (count, workers, spin, nested)),
            c =>
            {
                var (count, workers, spin, nested) = c;
                var previous = Threads.Pool.SpinMicroseconds;
                Threads.Pool.SpinMicroseconds = spin;
                try
                {
                    // Two callers at once: one holds the workers' slot, the other goes to the runtime's pool.
                    var runs = new int[2][];
                    Parallel.For(0, 2, caller =>
                    {
                        var r = runs[caller] = new int[count * (nested ? 3 : 1)];
                        Threads.For(count, workers, i =>
                        {
                            Interlocked.Increment(ref r[i]);
                            if (nested)
                            {
                                Threads.ForRanges(2 * count, workers, (start, end) =>
                                {
                                    for (var k = start; k < end; k++)
                                    {
                                        Interlocked.Increment(ref r[count + k]);
                                    }
                                });
                            }
                        });
                    });

                    var expected = Enumerable.Range(0, count * (nested ? 3 : 1)).Select(k => k < count ? 1 : count).ToArray();
                    Assert.That(runs[0], Is.EqualTo(expected), $"caller 0: count {count}, workers {workers}, spin {spin} µs, nested {nested}");
                    Assert.That(runs[1], Is.EqualTo(expected), $"caller 1: count {count}, workers {workers}, spin {spin} µs, nested {nested}");
                }
                finally
                {
                    Threads.Pool.SpinMicroseconds = previous;
                }
            }),
            maxTest: 60);

    [Test]
    public void AParkedWorker_WakesForTheNextJob()
    {
        if (Environment.ProcessorCount < 2)
        {
            Assert.Ignore("one core: the pool has no worker");
        }

        var previous = Threads.Pool.SpinMicroseconds;
        Threads.Pool.SpinMicroseconds = 0;
        try
        {
            for (var job = 0; job < 10; job++)
            {
                // With no spin budget the worker parks as soon as it is idle; give it the time to.
                Thread.Sleep(20);

                // Index 0 waits until another thread has started index 1: only a worker woken by the offer can.
                var caller = Environment.CurrentManagedThreadId;
                var started = 0;
                var waited = TimeSpan.Zero;
                Threads.Claim(2, 2, static () => 0, (i, _) =>
                {
                    if (Environment.CurrentManagedThreadId != caller)
                    {
                        Volatile.Write(ref started, 1);
                        return;
                    }

                    var t0 = Stopwatch.GetTimestamp();
                    SpinWait.SpinUntil(() => Volatile.Read(ref started) == 1, TimeSpan.FromSeconds(10));
                    waited = Stopwatch.GetElapsedTime(t0);
                }, static _ => { });
                Assert.That(started, Is.EqualTo(1), $"job {job}: no worker joined within {waited.TotalSeconds:F1} s");
            }
        }
        finally
        {
            Threads.Pool.SpinMicroseconds = previous;
        }
    }

    [Test]
    public void SpinBudget_RejectsANegativeValue() =>
        Assert.That(() => Threads.Pool.SpinMicroseconds = -1, Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("SpinMicroseconds"));

    /// <summary>A thread limit far above the index count (SetNumThreads(int.MaxValue)) still runs every index once and returns: the block count must not overflow.</summary>
    [Test]
    public void For_WithAHugeWorkerCount_RunsEveryIndexOnce()
    {
        var hits = new int[100];
        var run = Task.Run(() => Threads.For(hits.Length, int.MaxValue, i => Interlocked.Increment(ref hits[i])));
        Assert.That(run.Wait(TimeSpan.FromSeconds(30)), Is.True, "Threads.For did not return");
        Assert.That(hits, Is.All.EqualTo(1));
    }
}
