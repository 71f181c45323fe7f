using System.Reflection;
using Autograd;

namespace Autograd.Tests.Core;

/// <summary>The tape records, backward walks it in reverse, grads accumulate, graphs are released.</summary>
public class TapeTests
{
    [Test]
    public void Backward_AccumulatesAcrossUsesAndCalls()
    {
        var x = Tensor.FromArray(new[] { 3.0 }, [1], requiresGrad: true);
        var y = x * x + x;                 // dy/dx = 2x + 1 = 7: x is used three times
        y.Backward(retainGraph: true);
        Assert.That(x.Grad!.Item(), Is.EqualTo(7.0));
        y.Backward();                      // accumulates, as PyTorch, until cleared
        Assert.That(x.Grad!.Item(), Is.EqualTo(14.0));
        x.ZeroGrad();
        Assert.That(x.Grad!.Item(), Is.EqualTo(0.0));
    }

    [Test]
    public void SecondBackwardThroughReleasedGraph_Throws()
    {
        var x = Tensor.FromArray(new[] { 1.0, 2.0 }, [2], requiresGrad: true);
        var loss = (x * x).Sum();
        loss.Backward();
        Assert.That(loss.GradFn!.IsReleased, Is.True);
        var ex = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.That(ex!.Message, Does.Contain("Sum").And.Contain("retainGraph"));
    }

    [Test]
    public void RetainGraph_KeepsNodes()
    {
        var x = Tensor.FromArray(new[] { 2.0 }, [1], requiresGrad: true);
        var y = x.Exp();
        var before = Tape.Current.NodesReleased;
        y.Backward(retainGraph: true);
        Assert.That(y.GradFn!.IsReleased, Is.False);
        Assert.That(Tape.Current.NodesReleased, Is.EqualTo(before));
        y.Backward();
        Assert.That(Tape.Current.NodesReleased, Is.EqualTo(before + 1));
        Assert.That(x.Grad!.Item(), Is.EqualTo(2 * Math.Exp(2)).Within(1e-12));
    }

    [Test]
    public void ReverseTapeOrder_HandlesDiamondsAndSharedSubgraphs()
    {
        // y = a·b + exp(a·b) with the product shared: each branch's gradient must be summed at
        // the product before its own VJP runs.
        var a = Tensor.FromArray(new[] { 0.5 }, [1], requiresGrad: true);
        var b = Tensor.FromArray(new[] { -1.5 }, [1], requiresGrad: true);
        var p = a * b;
        var y = p + p.Exp();
        y.Backward();
        var dp = 1 + Math.Exp(-0.75);
        Assert.That(a.Grad!.Item(), Is.EqualTo(dp * -1.5).Within(1e-12));
        Assert.That(b.Grad!.Item(), Is.EqualTo(dp * 0.5).Within(1e-12));
    }

    [Test]
    public void NoGrad_StopsRecording_AndDetachCutsTheGraph()
    {
        var x = Tensor.FromArray(new[] { 1.0 }, [1], requiresGrad: true);
        using (Tensor.NoGrad())
        {
            var y = x * 2.0;
            Assert.That(y.RequiresGrad, Is.False);
            Assert.That(y.GradFn, Is.Null);
            using (Tensor.EnableGrad())
            {
                Assert.That((x * 2.0).RequiresGrad, Is.True);
            }
        }

        Assert.That(Tape.IsGradEnabled, Is.True);
        var d = (x * 3.0).Detach();
        Assert.That(d.RequiresGrad, Is.False);
        Assert.That(d.IsLeaf, Is.True);
        var ex = Assert.Throws<InvalidOperationException>(() => (d * 2.0).Backward());
        Assert.That(ex!.Message, Does.Contain("does not require grad"));
    }

    [Test]
    public void NoGrad_IsPerAsyncFlow()
    {
        using (Tensor.NoGrad())
        {
            var other = Task.Run(() => Tape.IsGradEnabled);
            Assert.That(Tape.IsGradEnabled, Is.False);
            // A task started inside the scope inherits it (ExecutionContext flows), as PyTorch's thread-local grad mode does not:
            Assert.That(other.Result, Is.False);
        }

        var fresh = new Thread(() => Assert.That(Tape.IsGradEnabled, Is.True));
        fresh.Start();
        fresh.Join();
    }

    [Test]
    public void ConcurrentBackwardPasses_OverASharedGraph_AddUpExactly()
    {
        // Pass state must not live on shared nodes, and leaf accumulation must not race.
        for (var rep = 0; rep < 100; rep++)
        {
            var w = Tensor.Ones<double>(64);
            w.RequiresGrad = true;
            var h = (w * w).Exp();
            var losses = Enumerable.Range(0, 4).Select(_ => h.Sum()).ToArray();
            Parallel.For(0, losses.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => losses[i].Backward(retainGraph: true));
            Assert.That(w.Grad!.ToArray(), Is.All.EqualTo(4 * 2 * Math.E).Within(1e-12), $"repetition {rep}");
        }
    }

    [Test]
    public void ImplicitGradient_NeedsOneElement_AndGradOutputMustMatch()
    {
        var x = Tensor.FromArray(new[] { 1.0, 2.0 }, [2], requiresGrad: true);
        var y = x * 2.0;
        var ex = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.That(ex!.Message, Does.Contain("[2]"));
        var ex2 = Assert.Throws<ArgumentException>(() => y.Backward(Tensor.Zeros<double>(3)));
        Assert.That(ex2!.Message, Does.Contain("[3]").And.Contain("[2]"));
        y.Backward(Tensor.FromArray(new[] { 1.0, 10.0 }, [2]));
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 2.0, 20.0 }));
    }

    [Test]
    public void LeafGrad_IsContiguousEvenWhenTheVjpReturnsABroadcastView()
    {
        var x = Tensor.FromArray(new[] { 1.0, 2.0, 3.0 }, [3], requiresGrad: true);
        x.Sum().Backward();                  // Sum's VJP is an expanded (stride-0) view
        Assert.That(x.Grad!.IsContiguous, Is.True);
        Assert.That(x.Grad.Storage.Length, Is.EqualTo(3));
        x.Sum().Backward();
        Assert.That(x.Grad.ToArray(), Is.EqualTo(new[] { 2.0, 2.0, 2.0 }));
    }

    [Test]
    public void NonLeaf_CannotDropRequiresGrad()
    {
        var x = Tensor.FromArray(new[] { 1.0 }, [1], requiresGrad: true);
        var y = x * 2.0;
        Assert.That(y.IsLeaf, Is.False);
        Assert.That(y.GradFn!.OpName, Is.EqualTo("Mul"));
        Assert.Throws<InvalidOperationException>(() => y.RequiresGrad = false);
        Assert.Throws<ArgumentException>(() => x.Grad = Tensor.Zeros<double>(2));
    }

    [Test]
    public void VjpReturningWrongShape_IsReportedWithTheOpName()
    {
        var x = Tensor.FromArray(new[] { 1.0, 2.0 }, [2], requiresGrad: true);
        var y = Tape.Record("BadOp", Tensor.FromArray(new[] { 3.0 }, [1]), [x], (g, grads) => grads[0] = g);
        var ex = Assert.Throws<GradientShapeException>(() => y.Backward());
        Assert.That(ex!.Message, Does.Contain("BadOp").And.Contain("[1]").And.Contain("[2]"));
        Assert.That((ex.OpName, ex.Input, ex.GradientShape, ex.InputShape), Is.EqualTo(("BadOp", 0, new[] { 1 }, new[] { 2 })));
    }

    [Test]
    public void Factories_InferTypeAndAreSeedable()
    {
        var a = Tensor.FromArray(new[] { 1f, 2f }, [2]);
        Assert.That(a, Is.InstanceOf<Tensor<float>>());
        Assert.That(Tensor.Randn<double>([4], new Generator(5)).ToArray(), Is.EqualTo(Tensor.Randn<double>([4], new Generator(5)).ToArray()));
        Tensor.ManualSeed(9);
        var r1 = Tensor.Rand<float>([3]).ToArray();
        Tensor.ManualSeed(9);
        Assert.That(Tensor.Rand<float>([3]).ToArray(), Is.EqualTo(r1));
        Assert.That(r1.All(v => v >= 0 && v < 1));
        Assert.That(Tensor.Arange(0.0, 1.0, 0.25).ToArray(), Is.EqualTo(new[] { 0, 0.25, 0.5, 0.75 }));
        Assert.That(Tensor.Full([2, 2], 7.0).ToArray(), Is.All.EqualTo(7.0));
        Assert.That(Tensor.Ones<float>(2).ToArray(), Is.EqualTo(new[] { 1f, 1f }));
        Assert.That(Tensor.Zeros<double>(2, 0).Numel, Is.EqualTo(0));
        Assert.That(Assert.Throws<ArgumentException>(() => Tensor.FromArray(new[] { 1f }, [2]))!.Message, Does.Contain("FromArray").And.Contain("[2]"));
        Assert.Throws<ArgumentException>(() => Tensor.Zeros<float>(-1));
        Assert.Throws<ArgumentException>(() => Tensor.Arange(0.0, 1.0, 0.0));
        Assert.That(Tensor.Arange(3.0, 0.0, -1.0).ToArray(), Is.EqualTo(new[] { 3.0, 2, 1 }));
        Assert.That(Tensor.Arange(2.0, 2.0, -1.0).Numel, Is.EqualTo(0));
        Assert.That(Assert.Throws<ArgumentException>(() => Tensor.Arange(0.0, 3.0, -1.0))!.Message, Does.Contain("Arange").And.Contain("step"));
        Assert.That(Tensor.Zeros<float>(65536, 65536, 0).Shape, Is.EqualTo(new[] { 65536, 65536, 0 }));
        Assert.That(Tensor.Zeros<float>(65536, 65536, 0).Reshape(0, 7).Numel, Is.EqualTo(0));
        Assert.That(Assert.Throws<InvalidOperationException>(() => a.Item())!.Message, Does.Contain("Item"));
    }

    [Test]
    public void FromArray_CopiesTheCallersArray()
    {
        var data = new[] { 1.0, 2.0 };
        var t = Tensor.FromArray(data, [2], requiresGrad: true);
        (t * t).Sum().Backward();
        data[0] = 100;
        Assert.That(t.At(0), Is.EqualTo(1.0));
    }

    [Test]
    public void ToString_IsReadable()
    {
        var t = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f }, [2, 2], requiresGrad: true);
        Assert.That(t.ToString(), Is.EqualTo("tensor([[1., 2.],\n        [3., 4.]], shape=[2, 2], dtype=float32, requiresGrad=true)"));
        Assert.That((t * 2f).ToString(), Does.EndWith("gradFn=Mul)"));
        Assert.That(Tensor.Scalar(2.5).ToString(), Is.EqualTo("tensor(2.5000, shape=[], dtype=float64)"));
        Assert.That(Tensor.Zeros<float>(2000).ToString(), Does.Contain("..."));
    }

    [Test]
    public void OnlyFloatAndDouble()
    {
        var ex = Assert.Throws<TypeInitializationException>(() => _ = new Tensor<Half>(new Storage<Half>([]), [0], [1], 0));
        Assert.That(ex!.InnerException, Is.InstanceOf<NotSupportedException>());
    }

    [Test]
    public void Core_DoesNotReferenceOps()
    {
        var core = typeof(Tensor<>).Assembly;
        Assert.That(core.GetName().Name, Is.EqualTo("Autograd.Core"));
        Assert.That(core.GetReferencedAssemblies().Select(a => a.Name), Has.None.StartsWith("Autograd.Ops"));
        var csproj = File.ReadAllText(Path.Combine(Support.TestData.RepoRoot(), "Autograd.Core", "Autograd.Core.csproj"));
        Assert.That(csproj, Does.Not.Contain("ProjectReference"));
    }
}
