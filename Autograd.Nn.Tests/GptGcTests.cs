using System.Reflection;
using Autograd.Example;

namespace Autograd.Nn.Tests;

/// <summary>
/// Issue 16's "0 gen-2 collections per step": GPT training steps (the recipe's model, batch 12 × 64) that follow a
/// collection the buffer pool had to induce in the middle of a step, with storages of an earlier workload dead in
/// gen 2, cause no gen-2 collection once they settle. That is the state the workload runner's transformer section
/// sometimes left behind its large attention rows: the pool's collections then ran mid-step, escalated to gen 2
/// each time (the previous step's activations, promoted twice by the gen-1 + gen-2 pair, were dead in gen 2), and
/// the cycle kept itself going, one gen-2 collection per step. Counters, not timings: <see cref="GC.CollectionCount"/>.
/// </summary>
[NonParallelizable] // Reads process-wide collection counts and moves the buffer pool's budget.
public class GptGcTests
{
    [Test]
    public void GptSteps_AfterAMidStepCollection_CauseNoGen2Collections()
    {
        // The pool's headroom lowered from 64 MiB to 4 (as MemoryTests does), so that a step's activations are many
        // times the half-headroom that sends a collection on to gen 2, on any machine and thread count, instead of
        // on the edge of it as in the runner (where the cycle set in about one run in seven). With the pool of
        // commit 234a79d this test sees 16 gen-2 collections in 16 steps (3 collections a step); with the fix, 0.
        var minBudget = typeof(Tensor).Assembly.GetType("Autograd.Kernels.BufferPool", throwOnError: true)!
            .GetProperty("MinBudget", BindingFlags.NonPublic | BindingFlags.Static)!;
        var saved = minBudget.GetValue(null)!;
        minBudget.SetValue(null, 4L << 20);
        try
        {
            Run();
        }
        finally
        {
            minBudget.SetValue(null, saved);
        }
    }

    private static void Run()
    {
        var tokens = new Generator(1337);
        var train = new int[20_000];
        for (var i = 0; i < train.Length; i++)
        {
            train[i] = tokens.NextInt(65);
        }

        var job = new GptJob(new CharGpt(new GptConfig(65), new Generator(1337)), train, 2000, new Generator(7));
        var it = 0;
        for (var i = 0; i < 3; i++)
        {
            job.Step(it++);
        }

        // A large pooled buffer that outlives a few steps (and their collections), so it is promoted to gen 2,
        // then dies: only a gen-2 collection finds it.
        var large = Tensor.Zeros<float>([16 << 20]);
        for (var i = 0; i < 3; i++)
        {
            job.Step(it++);
            GC.Collect(1, GCCollectionMode.Forced, blocking: true);
        }

        GC.KeepAlive(large);
        large = null;

        // One step with a larger buffer wanted between forward and backward: the pool collects there, with the
        // step's activations alive.
        var (x, y) = job.GetBatch();
        var loss = job.Model.Loss(x, y);
        var spike = Tensor.Zeros<float>([32 << 20]);
        job.Optimizer.ZeroGrad(setToNone: true);
        loss.Backward();
        job.Optimizer.Step();
        GC.KeepAlive(spike);
        spike = null;
        it++;

        // A few steps to settle (the pool may need one full collection to get back what is dead in gen 2), then count.
        for (var i = 0; i < 4; i++)
        {
            job.Step(it++);
        }

        const int steps = 16;
        var before = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
        for (var i = 0; i < steps; i++)
        {
            job.Step(it++);
        }

        var gen2 = GC.CollectionCount(2) - before.Item3;
        TestContext.Out.WriteLine(
            $"{steps} GPT steps: {GC.CollectionCount(0) - before.Item1} gen-0, {GC.CollectionCount(1) - before.Item2} gen-1, {gen2} gen-2 collections (each counts in the lower generations too)");
        Assert.That(gen2, Is.EqualTo(0), $"{gen2} gen-2 collections in {steps} GPT steps");
    }
}
