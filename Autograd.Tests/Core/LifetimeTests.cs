using System.Diagnostics;
using System.Runtime.CompilerServices;
using Autograd;
using Autograd.Kernels;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Core;

/// <summary>
/// The storage lifetime rule (docs/architecture.md, "The memory boundary"): a span of a pooled storage does not
/// keep the storage's lease alive, so a method that reads a span of a tensor must keep the tensor reachable
/// until it is done (a <c>x.Read()</c>/<c>x.Write()</c> scope). Here every input is a temporary that nothing else references,
/// another thread collects and runs finalizers without pause, and the pool poisons every buffer it takes
/// back (NaN): an op that lets its input die while its kernel still reads it returns NaN or stale values
/// instead of the result of the same op on an input that stays reachable.
/// </summary>
[NonParallelizable] // Toggles the pool's process-wide poison hook and collects continuously.
public class LifetimeTests
{
    private static readonly int[] Shape = [256, 1024];   // 1 MiB of floats: pooled, and a kernel long enough to be caught

    private static IEnumerable<TestCaseData> Cases()
    {
        var rows = Enumerable.Range(0, 64).Select(i => (i * 37) % 256).ToArray();
        var index = IndexTensor.FromArray(Enumerable.Range(0, 256 * 8).Select(i => (long)((i * 131) % 1024)).ToArray(), [256, 8]);
        var mask = Tensor.FromArray(Enumerable.Range(0, 1024).Select(i => i % 3 == 0 ? 1f : 0f).ToArray(), [1, 1024]);
        var zeros = Tensor.Zeros<float>(256, 1024);
        yield return Case("ToArray", t => t.ToArray());
        yield return Case("ToArray of a transposed view", t => t.Transpose(0, 1).ToArray());
        yield return Case("Clone", t => Keep(t.Transpose(0, 1).Clone()));
        yield return Case("Cast", t => [.. t.Cast<double>().ToArray().Select(v => (float)v)]);
        yield return Case("SumToSize", t => Keep(t.SumToSize(1, 1024)));
        yield return Case("LogSoftmax", t => Keep(t.LogSoftmax(0)));
        yield return Case("Where", t => Keep(t.Where(mask, zeros)));
        yield return Case("Gather", t => Keep(t.Gather(1, index)));
        yield return Case("IndexSelect", t => Keep(t.IndexSelect(0, rows)));
        yield return Case("Cat", t => Keep(Tensor.Cat([t, zeros], 0)));
        yield return Case("AvgPool2d", t => Keep(t.View(4, 64, 32, 32).AvgPool2d(2)));

        // Conv2d's passes hand the input's, the weight's and the output's memory to their kernels.
        var generator = new Generator(12);
        var filters = Tensor.Randn<float>([16, 16, 3, 3], generator);
        var pointwise = Tensor.Randn<float>([32, 64, 1, 1], generator);
        var winograd = Tensor.Randn<float>([64, 64, 3, 3], generator);
        yield return Case("Conv2d on wide rows", t => Keep(t.View(16, 16, 32, 32).Conv2d(filters, padding: 1)));
        yield return Case("Conv2d on packed columns", t => Keep(t.View(16, 16, 32, 32).Conv2d(filters, stride: 2, padding: 1)));
        yield return Case("Conv2d 1×1 (the input as columns)", t => Keep(t.View(16, 64, 16, 16).Conv2d(pointwise)));
        yield return Case("Conv2d by Winograd", t => Keep(t.View(1, 64, 64, 64).Conv2d(winograd, padding: 1)));
        yield return Case("ConvTranspose2d", t => Keep(t.View(16, 16, 32, 32).ConvTranspose2d(filters, stride: 2, padding: 1)));
        yield return Case("CopyFrom", t => Keep(Tensor.Zeros<float>(1024, 256).CopyFrom(t.Transpose(0, 1))));
        yield return Case("AddInPlace (fused)", t => Keep(Tensor.Zeros<float>(256, 1024).AddInPlace(t, 0.5f)));
        yield return Case("AddInPlace (strided)", t => Keep(Tensor.Zeros<float>(1024, 256).AddInPlace(t.Transpose(0, 1))));
        yield return Case("MulInPlace (strided)", t => Keep(Tensor.Ones<float>(1024, 256).MulInPlace(t.Transpose(0, 1))));
    }

    private static TestCaseData Case(string name, Func<Tensor<float>, float[]> op) => new TestCaseData(op).SetArgDisplayNames(name);

    // The result is a temporary too; its ToArray keeps it alive itself.
    private static float[] Keep(Tensor<float> result) => result.ToArray();

    [TestCaseSource(nameof(Cases))]
    public void OpsOnDyingTemporaries_ReadTheirInputs_WhileAnotherThreadCollects(Func<Tensor<float>, float[]> op)
    {
        var data = Tensor.Randn<float>(Shape, new Generator(11)).ToArray();
        var held = Tensor.FromArray(data, Shape);
        var expected = op(held);
        GC.KeepAlive(held);

        // Long enough for the op's methods to be recompiled optimised (tier 1), where the JIT ends a
        // reference's lifetime at its last use; tier-0 code keeps every local alive to the end.
        var random = new Random(5);
        var (runs, wrong) = UnderCollection([], 700, 1, _ =>
        {
            // One collection inside a strided kernel at a row chosen afresh once the last one has fired.
            if (Volatile.Read(ref BufferPool.CollectAfterRows) <= 0)
            {
                Volatile.Write(ref BufferPool.CollectAfterRows, random.Next(1, 300));
            }

            return RunOnce(op, data).AsSpan().SequenceEqual(expected);
        });

        Assert.That(wrong, Is.Zero, $"{wrong} of {runs} runs read a buffer after the pool took it back");
    }

    /// <summary>
    /// The op on a fresh input that nothing else references: it dies as soon as the op has read its fields.
    /// Optimised at once and never inlined: tier-0 code of the test loop would keep the temporary alive in
    /// a stack slot for the whole method.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float[] RunOnce(Func<Tensor<float>, float[]> op, float[] data) => op(Tensor.FromArray(data, Shape));

    /// <summary>Per op: AUTOGRAD_LIFETIME_SOAK=1 runs each op for 2 s (tier-1 code everywhere), the suite for 60 ms and at least 4 runs.</summary>
    private static bool Soak => Environment.GetEnvironmentVariable("AUTOGRAD_LIFETIME_SOAK") == "1";

    public static IEnumerable<TestCaseData> EveryOp() =>
        OpCatalogue.All.Where(c => c.Shapes(c.Sizes).Length > 0).Select(c => new TestCaseData(c).SetArgDisplayNames(c.Label));

    /// <summary>
    /// Every op of <see cref="OpCatalogue"/>, forward and backward, on inputs that nothing else references (each a
    /// fresh clone of a leaf, so its gradient still reaches the leaf), while another thread collects and the pool
    /// poisons what it takes back and hands it out again at the same size classes: the output and the leaves'
    /// gradients must have the bits of the same op on inputs that stay reachable. Sizes are the catalogue's,
    /// scaled up until the inputs are pooled (4 KiB and more).
    /// </summary>
    [TestCaseSource(nameof(EveryOp))]
    public void EveryOp_OnDyingTemporaries_ForwardAndBackward_GiveTheBitsOfReachableInputs(OpCall call)
    {
        var sizes = Pooled(call);
        var data = call.Leaves(sizes).Select(l => l.ToArray()).ToArray();
        var shapes = call.Shapes(sizes);
        // Four ways to run: contiguous or transposed storage (the same values, but an op may sum them in another
        // order, so each layout has its own expected bits; an op that takes only contiguous inputs, View, runs on
        // contiguous clones alone), and forward only without recording (nothing saves the inputs: they die as
        // soon as the op has read its fields) or forward and backward (saved inputs, and the gradients' buffers).
        var modes = new List<(bool Strided, bool Record, long[] Expected)>();
        foreach (var strided in new[] { false, true })
        {
            foreach (var record in call.Differentiable ? new[] { false, true } : [false])
            {
                try
                {
                    modes.Add((strided, record, Reachable(call, sizes, data, shapes, strided, record)));
                }
                catch (ArgumentException) when (strided)
                {
                }
            }
        }

        var random = new Random(5);
        var (runs, wrong) = UnderCollection(shapes, Soak ? 2000 : 60, 2 * modes.Count, run =>
        {
            var mode = modes[run % modes.Count];
            return Dying(call, sizes, data, shapes, mode.Strided, mode.Record, random.Next(1, 64)).AsSpan().SequenceEqual(mode.Expected);
        });

        Assert.That(wrong, Is.Zero, $"{call.Label} {sizes}: {wrong} of {runs} runs differ from the op on reachable inputs (a buffer read after the pool took it back)");
    }

    /// <summary>
    /// Runs <paramref name="run"/> (true when its result is right) for <paramref name="milliseconds"/> and at least
    /// <paramref name="minRuns"/> times while another thread collects without pause (mostly gen-1 collections, which
    /// are short, so that many fall inside a kernel; every eighth a full one for inputs promoted while their op was
    /// still running) and then takes buffers of <paramref name="shapes"/> from the pool and drops them, so that the
    /// pool hands out the poisoned memory it just took back where a dead input's buffer would be.
    /// </summary>
    private static (int Runs, int Wrong) UnderCollection(int[][] shapes, int milliseconds, int minRuns, Func<int, bool> run)
    {
        var stop = 0;
        var collector = new Thread(() =>
        {
            for (var i = 0; Volatile.Read(ref stop) == 0; i++)
            {
                GC.Collect(i % 8 == 7 ? 2 : 1, GCCollectionMode.Forced, blocking: true);
                BufferPool.Reclaim();

                // A blocking collection stops every thread: ~200 µs between two lets the kernels run into the next one
                // (the pool's buffers came back by finalizers until stop 29, and the wait for them made this pause).
                var pause = Stopwatch.StartNew();
                while (pause.Elapsed.TotalMicroseconds < 200)
                {
                    Thread.SpinWait(20);
                }

                foreach (var shape in shapes)
                {
                    _ = Tensor.Zeros<double>(shape);
                }
            }
        }) { IsBackground = true };

        var poison = BufferPool.Poison;
        BufferPool.Poison = true;
        collector.Start();
        var (runs, wrong) = (0, 0);
        try
        {
            var clock = Stopwatch.StartNew();
            while (clock.ElapsedMilliseconds < milliseconds || runs < minRuns)
            {
                if (!run(runs++))
                {
                    wrong++;
                }
            }
        }
        finally
        {
            Volatile.Write(ref stop, 1);
            Volatile.Write(ref BufferPool.CollectAfterRows, 0);
            collector.Join();
            BufferPool.Poison = poison;
        }

        return (runs, wrong);
    }

    /// <summary>
    /// The catalogue's sizes times the smallest k (at most 16) that makes every input of rank 2 or more pooled
    /// and the largest one 128 KiB or more, so that a kernel runs long enough for a collection to fall inside it.
    /// </summary>
    private static Case Pooled(OpCall call)
    {
        for (var k = 1; ; k++)
        {
            var sizes = call.Sizes with { Values = [.. call.Sizes.Values.Select(v => v * k)] };
            var shapes = call.Shapes(sizes);
            if (k == 16
                || (shapes.All(s => s.Length < 2 || ShapeMath.Numel(s) * sizeof(double) >= BufferPool.MinPooledBytes)
                    && shapes.Max(s => ShapeMath.Numel(s)) * sizeof(double) >= 128 << 10))
            {
                return sizes;
            }
        }
    }

    /// <summary>The op on clones of the leaves (laid out as <paramref name="strided"/> says) that stay reachable until it is done; its output and the leaves' gradients as bits.</summary>
    private static long[] Reachable(OpCall call, Case sizes, double[][] data, int[][] shapes, bool strided, bool record)
    {
        var leaves = Leaves(call, data, shapes, record);
        var inputs = Clones(leaves, strided);
        var bits = Run(call, sizes, leaves, inputs);
        GC.KeepAlive(inputs);
        return bits;
    }

    /// <summary>
    /// The op on fresh clones that nothing but the op references; every other run each clone of rank 2 or more is
    /// stored transposed (the op sees the same values through a strided view, and takes its strided kernels, where
    /// <see cref="BufferPool.CollectAfterRows"/> collects inside a kernel). Optimised at once, never inlined (see RunOnce).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static long[] Dying(OpCall call, Case sizes, double[][] data, int[][] shapes, bool strided, bool record, int collectAfterRows)
    {
        var leaves = Leaves(call, data, shapes, record);
        var inputs = Clones(leaves, strided);

        // One collection inside the op's strided kernels at a row chosen afresh (set after the clones, whose own
        // strided copies would take it otherwise).
        Volatile.Write(ref BufferPool.CollectAfterRows, collectAfterRows);
        return Run(call, sizes, leaves, inputs);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Tensor<double>[] Clones(Tensor<double>[] leaves, bool strided) =>
        [.. leaves.Select(l => strided && l.Rank >= 2 ? l.Transpose(-2, -1).Clone().Transpose(-2, -1) : l.Clone())];

    private static Tensor<double>[] Leaves(OpCall call, double[][] data, int[][] shapes, bool record) =>
        [.. data.Select((d, i) => Tensor.FromArray(d, shapes[i], requiresGrad: record && call.Differentiable))];

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static long[] Run(OpCall call, Case sizes, Tensor<double>[] leaves, Tensor<double>[] inputs)
    {
        var y = call.Apply(sizes, inputs);
        var bits = new List<long>(y.ToArray().Select(BitConverter.DoubleToInt64Bits));
        if (y.RequiresGrad)
        {
            y.Sum().Backward();
            foreach (var leaf in leaves)
            {
                bits.AddRange(leaf.Grad is null ? [] : leaf.Grad.ToArray().Select(BitConverter.DoubleToInt64Bits));
            }
        }

        return [.. bits];
    }

    [Test]
    public void Poison_FillsReturnedBuffers_WithNaN()
    {
        var poison = BufferPool.Poison;
        BufferPool.Poison = true;
        try
        {
            var t = Tensor.Ones<float>(2048);
            Assert.That(t.Storage.IsPooled, Is.True);
            var memory = t.Storage.Memory;   // what a kernel would still be reading
            t.Storage.ReleaseToPool();
            Assert.That(memory.ToArray().All(float.IsNaN), Is.True, "a returned buffer reads as NaN");
        }
        finally
        {
            BufferPool.Poison = poison;
        }
    }
}
