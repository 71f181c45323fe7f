using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Autograd;
using Autograd.Kernels;

namespace Autograd.Tests.Core;

/// <summary>
/// The memory model: pooled buffers come back only when no tensor can read them, the engine's early
/// release never touches a buffer a user can reach, and a training loop at steady state takes no
/// fresh memory from the system.
/// </summary>
[NonParallelizable] // Reads and toggles the pool's process-wide counters and stress hook.
public class MemoryTests
{
    /// <summary>A small conv net whose activations and gradients are all pooled (≥ 1024 floats each).</summary>
    private sealed class Net
    {
        public readonly Tensor<float> Conv = Tensor.Randn<float>([8, 3, 3, 3], new Generator(1), requiresGrad: true);
        public readonly Tensor<float> Fc = Tensor.Randn<float>([512, 10], new Generator(2), requiresGrad: true);
        public readonly Tensor<float> X = Tensor.Randn<float>([8, 3, 16, 16], new Generator(3));
        public readonly int[] Y = [1, 2, 3, 4, 5, 6, 7, 8];

        public (Tensor<float> Hidden, Tensor<float> Loss) Step()
        {
            Conv.Grad = null;
            Fc.Grad = null;
            var hidden = X.Conv2d(Conv, padding: 1).Relu();                         // [8, 8, 16, 16]
            var loss = (hidden.MaxPool2d(2).Flatten(1).MatMul(Fc) * 0.01f).CrossEntropy(Y);
            loss.Backward();
            using (Tensor.NoGrad())
            {
                // Plain SGD, in place.
                Conv.AddInPlace(Conv.Grad!, -0.01f);
                Fc.AddInPlace(Fc.Grad!, -0.01f);
            }

            return (hidden, loss);
        }
    }

    [Test]
    public void ViewsOfIntermediatesAndGradients_KeepTheirValues_AcrossManySteps()
    {
        var net = new Net();
        var held = new List<(Tensor<float> View, float[] Expected)>();
        BufferPool.StressCollect = true;   // every pool miss collects first: a buffer recycled too early shows at once
        try
        {
            for (var step = 0; step < 40; step++)
            {
                var (hidden, _) = net.Step();

                // Views only (no copies): a strided slice of an activation, a detached view, and views of
                // the gradients the engine handed over to the leaves.
                var slice = hidden.Narrow(1, step % 8, 1).Transpose(2, 3);
                var detached = hidden.Detach().Reshape(8, -1);
                var convGrad = net.Conv.Grad!.Narrow(0, 0, 4);
                var fcGrad = net.Fc.Grad!.Transpose(0, 1);
                foreach (var v in new[] { slice, detached, convGrad, fcGrad })
                {
                    held.Add((v, v.ToArray()));
                }

                if (step % 10 == 0)
                {
                    BufferPool.Collect();
                }
            }

            BufferPool.Collect();
            for (var i = 0; i < held.Count; i++)
            {
                Assert.That(held[i].View.ToArray(), Is.EqualTo(held[i].Expected), $"held view {i} (step {i / 4}) changed");
            }
        }
        finally
        {
            BufferPool.StressCollect = false;
        }
    }

    [Test]
    public void Training_GivesTheSameLosses_WhenTheGcRunsOnEveryPoolMiss()
    {
        static float[] Losses(bool stress)
        {
            var previous = Tensor.NumThreads;
            Tensor.SetNumThreads(1);   // one thread: summation order, hence every bit, is fixed
            BufferPool.StressCollect = stress;
            try
            {
                var net = new Net();
                return [.. Enumerable.Range(0, 15).Select(_ => net.Step().Loss.Item())];
            }
            finally
            {
                BufferPool.StressCollect = false;
                Tensor.SetNumThreads(previous);
            }
        }

        Assert.That(Losses(stress: true), Is.EqualTo(Losses(stress: false)));
    }

    [Test]
    public void SteadyStateTraining_TakesNoFreshPoolMemory()
    {
        // A 4 MiB budget instead of 64 MiB: a step of this net turns over about 170 KB, so the pool
        // reaches its steady state (reclaiming instead of allocating) within the warm-up.
        var previous = BufferPool.MinBudget;
        BufferPool.MinBudget = 4L << 20;
        try
        {
            // A full collection first: buffers of earlier tests' storages that reached gen 2 come back
            // now, not in the middle of the measured steps (the suite runs this after hundreds of tests).
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            BufferPool.Collect();
            var net = new Net();
            for (var i = 0; i < 60; i++)
            {
                net.Step();
            }

            var fresh = BufferPool.FreshBytes;
            for (var i = 0; i < 60; i++)
            {
                net.Step();
            }

            // The 60 steps turn over about 10 MB of buffers. A buffer whose storage a natural collection
            // promoted to gen 2 comes back only after a gen-2 collection, so allow a few of those; without
            // reclaiming, the pool would allocate the whole turnover afresh. Whether the buffers came back
            // through a collection the pool induced or a natural one depends on what else allocates (ops that
            // still allocate plain arrays trigger natural collections), so only the outcome is asserted.
            Assert.That(BufferPool.FreshBytes - fresh, Is.LessThanOrEqualTo(256 * 1024), "bytes of fresh arrays the pool allocated during 60 steady-state steps");
        }
        finally
        {
            BufferPool.MinBudget = previous;
            BufferPool.Collect();
        }
    }

    [Test]
    public void LeafGradient_IsNotRecycled_ByLaterPasses()
    {
        var x = Tensor.Randn<float>([4096], new Generator(4), requiresGrad: true);
        x.Relu().Sum().Backward();
        var grad = x.Grad!;
        var expected = x.ToArray().Select(v => v > 0 ? 1f : 0f).ToArray();
        BufferPool.Collect();

        // Another pass allocates buffers of the same size class: none may be x.Grad's.
        var other = Tensor.Randn<float>([4096], new Generator(5), requiresGrad: true);
        other.Relu().Sum().Backward();
        Assert.That(grad.ToArray(), Is.EqualTo(expected));
    }

    /// <summary>A custom function whose backward keeps the gradient it gets and the one it returns.</summary>
    private sealed class Keep : Function<float>
    {
        public readonly List<(Tensor<float> Tensor, float[] Values)> Kept = [];

        protected override Tensor<float> Forward(FunctionContext<float> ctx, Tensor<float>[] inputs) => inputs[0].Mul(Tensor.Scalar(2f));

        protected override void Backward(FunctionContext<float> ctx, Tensor<float> gradOutput, Span<Tensor<float>?> inputGrads)
        {
            var gi = gradOutput.Mul(Tensor.Scalar(2f));
            Kept.Add((gradOutput, gradOutput.ToArray()));
            Kept.Add((gi, gi.ToArray()));
            inputGrads[0] = gi;
        }
    }

    [Test]
    public void GradientsACustomFunctionKeeps_AreNeverRecycled()
    {
        // A custom backward may keep what it is given and what it returns; the engine must leave both alone.
        var keep = new Keep();
        var leaf = Tensor.Randn<float>([4096], new Generator(6), requiresGrad: true);
        var y = keep.Apply(leaf.Relu());
        (y * y).Sum().Backward();   // the gradient reaching Keep is a fresh tensor of a built-in VJP
        BufferPool.Collect();
        var other = Tensor.Randn<float>([4096], new Generator(7), requiresGrad: true);
        (other.Relu() * other).Sum().Backward();
        Assert.That(keep.Kept, Has.Count.EqualTo(2));
        foreach (var (t, values) in keep.Kept)
        {
            Assert.That(t.ToArray(), Is.EqualTo(values));
        }
    }

    /// <summary>
    /// Records a small conv net's forward and returns the loss, with weak references to the storages of
    /// every intermediate the graph saved for backward; nothing else refers to them once this returns.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (Tensor<float> Loss, WeakReference[] Saved) RecordWithSavedIntermediates(Net net)
    {
        var conv = net.X.Conv2d(net.Conv, padding: 1);          // Conv2d saves its input and weight (leaves)
        var hidden = conv.Relu();                                 // Relu saves its output
        var pooled = hidden.MaxPool2d(2).Flatten(1);              // MatMul saves its input
        var logits = pooled.MatMul(net.Fc) * 0.01f;
        var loss = logits.CrossEntropy(net.Y);                    // LogSoftmax saves its output
        return (loss, [new(hidden.Storage), new(pooled.Storage), new(logits.Storage), new(conv.Storage)]);
    }

    [Test]
    public void ReleasedNodes_FreeWhatTheySaved()
    {
        var net = new Net();
        var (loss, saved) = RecordWithSavedIntermediates(net);
        static void Collect()
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }

        // The graph holds the saved intermediates: alive before backward, and after one that retains it.
        Collect();
        Assert.That(saved.Count(w => w.IsAlive), Is.EqualTo(saved.Length), "the recorded graph keeps its saved tensors");
        loss.Backward(retainGraph: true);
        Collect();
        Assert.That(saved.Count(w => w.IsAlive), Is.EqualTo(saved.Length), "a retained graph keeps its saved tensors");

        // A backward that releases the graph drops them, while the loss (the graph's root) is still referenced.
        loss.Backward();
        Collect();
        Assert.That(saved.Count(w => w.IsAlive), Is.Zero, "storages still reachable after the graph was released");
        Assert.That(loss.GradFn!.IsReleased, Is.True);
        GC.KeepAlive(loss);
    }

    [Test]
    public void ReleasedStorage_ThrowsInsteadOfReadingReusedMemory()
    {
        var t = Tensor.Zeros<float>(2048);
        t.Storage.ReleaseToPool();
        Assert.Throws<ArgumentOutOfRangeException>(() => t.ToArray());
    }

    [Test]
    public void UnreachableStorage_GivesItsBufferBack_WhenThePoolReclaims()
    {
        // An odd size of its own class, so the class's free list holds what this test returns on top.
        const int n = 1_234_567;
        var dropped = AddressOfADroppedTensor(n);
        GC.Collect();
        BufferPool.Reclaim();
        var next = Tensor.Zeros<float>(n);
        Assert.That(AddressOf(next), Is.EqualTo(dropped), "the next tensor of the size gets the unreachable one's buffer");
        GC.KeepAlive(next);
    }

    [Test]
    public void BufferReleasedEarly_IsNotGivenBackAgain_WhenItsStorageDies()
    {
        const int n = 1_234_577;
        var t = Tensor.Zeros<float>(n);
        var address = AddressOf(t);
        t.Storage.ReleaseToPool();
        t = null;
        GC.Collect();
        BufferPool.Reclaim();
        var a = Tensor.Zeros<float>(n);
        var b = Tensor.Zeros<float>(n);
        Assert.Multiple(() =>
        {
            Assert.That(AddressOf(a), Is.EqualTo(address), "the released buffer is reused");
            Assert.That(AddressOf(b), Is.Not.EqualTo(address), "and only once: two live tensors never share a buffer");
        });
        GC.KeepAlive(a);
        GC.KeepAlive(b);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint AddressOfADroppedTensor(int n) => AddressOf(Tensor.Zeros<float>(n));

    /// <summary>Where a tensor's (pinned, pooled) buffer starts.</summary>
    private static unsafe nint AddressOf(Tensor<float> t) => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.Storage.Span));

    [Test]
    public void SizeClasses_AreQuarterStepsBetweenPowersOfTwo()
    {
        Assert.Multiple(() =>
        {
            Assert.That(BufferPool<float>.Class(1024).Capacity, Is.EqualTo(1024));
            Assert.That(BufferPool<float>.Class(1025).Capacity, Is.EqualTo(1280));
            Assert.That(BufferPool<float>.Class(1792).Capacity, Is.EqualTo(1792));
            Assert.That(BufferPool<float>.Class(1793).Capacity, Is.EqualTo(2048));
            Assert.That(BufferPool<float>.Class(2048).Class, Is.EqualTo(BufferPool<float>.Class(1793).Class));
            Assert.That(BufferPool<float>.Class(1 << 24).Capacity, Is.EqualTo(1 << 24));
        });
    }

    [Test]
    public void SetNumThreads_RejectsZero_AndIsObeyed()
    {
        var previous = Tensor.NumThreads;
        try
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.SetNumThreads(0));
            Tensor.SetNumThreads(1);
            Assert.That(Tensor.NumThreads, Is.EqualTo(1));
            Assert.That(Gemm.MaxThreads, Is.EqualTo(1));
        }
        finally
        {
            Tensor.SetNumThreads(previous);
        }
    }
}
