using Autograd.Nn;

namespace Autograd.Distributed.Tests;

/// <summary>
/// The process group and DistributedDataParallel in a process that mpirun did not start: a world of one,
/// where every collective is the identity, libmpi is never loaded, and a wrapped model trains exactly as
/// the bare one.
/// </summary>
public class SingleProcessTests
{
    [SetUp]
    public void NotUnderMpirun() => Assume.That(ProcessGroup.IsLaunchedByMpirun, Is.False);

    [Test]
    public void TheWorld_IsOneRank_AndCollectivesAreTheIdentity()
    {
        var world = ProcessGroup.World;
        Assert.That((world.Rank, world.WorldSize, world.IsMain, world.UsesMpi), Is.EqualTo((0, 1, true, false)));
        double[] values = [1, 2, 3];
        world.AllReduce<double>(values, ReduceOp.Average);
        world.Broadcast<double>(values);
        Assert.That(values, Is.EqualTo(new[] { 1.0, 2, 3 }));
        var work = world.AllReduceAsync<double>(values.AsMemory());
        Assert.That(work.IsCompleted);
        work.Wait();
        var gathered = world.AllGather(Tensor.FromArray([1f, 2f]));
        Assert.That(gathered.Shape, Is.EqualTo(new[] { 1, 2 }));
        world.Barrier();
    }

    [Test]
    public void BadArguments_NameTheOpAndTheArgument()
    {
        var world = ProcessGroup.World;
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => world.Broadcast<float>(new float[3], root: 1));
        Assert.That(ex!.Message, Does.Contain("Broadcast").And.Contain("root"));
        var t = Tensor.Zeros<float>(2, 3).Transpose(0, 1);
        Assert.That(Assert.Throws<ArgumentException>(() => world.AllReduce(t))!.Message, Does.Contain("AllReduce").And.Contain("[3, 2]").And.Contain("not contiguous"));
        Assert.That(Assert.Throws<ArgumentException>(() => world.AllGather<float>(new float[2], new float[3]))!.Message, Does.Contain("AllGather").And.Contain("3 elements"));
        Assert.That(Assert.Throws<ArgumentException>(() => world.AllReduce<Half>(new Half[1]))!.Message, Does.Contain("Half"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DistributedDataParallel<float>(Worker.LeNet<float>(new Generator(0)), bucketCapMB: 0));
    }

    private static (double[] Plain, double[] Wrapped) GradsAfter(Action<Module<double>, Func<Tensor<double>, Tensor<double>>, Func<IDisposable>> backward)
    {
        var plain = new Worker.Tied<double>(new Generator(3));
        var inner = new Worker.Tied<double>(new Generator(3));
        var ddp = new DistributedDataParallel<double>(inner, bucketCapMB: 0.001);
        Assert.That(ddp.BucketCount, Is.GreaterThan(1));
        backward(plain, x => plain.Forward(x), () => new NoScope());
        backward(inner, x => ddp.Forward(x), ddp.NoSync);
        return ([.. plain.Parameters().SelectMany(p => p.Grad!.ToArray())], [.. inner.Parameters().SelectMany(p => p.Grad!.ToArray())]);
    }

    private sealed class NoScope : IDisposable
    {
        public void Dispose()
        {
        }
    }

    [Test]
    public void Wrapped_GivesTheGradientsOfTheBareModel_OverSeveralPasses_AndUnderNoSync()
    {
        var x = Tensor.Randn<double>([8, 16], new Generator(9));
        int[] y = [0, 1, 2, 3, 4, 5, 6, 7];
        var (plain, wrapped) = GradsAfter((_, forward, noSync) =>
        {
            forward(x).CrossEntropy(y).Backward();
            using (noSync())
            {
                forward(x * 2.0).CrossEntropy(y).Backward();
            }

            forward(x * 0.5).CrossEntropy(y).Backward();
        });
        Assert.That(wrapped, Is.EqualTo(plain));
    }

    [Test]
    public void Wrapped_RegistersTheModelAsModule_AsPyTorch()
    {
        var ddp = new DistributedDataParallel<float>(new Worker.Tied<float>(new Generator(0)));
        Assert.That(ddp.StateDict().Keys, Has.All.StartWith("module."));
        Assert.That(ddp.Parameters().Count(), Is.EqualTo(ddp.Module.Parameters().Count()));
    }
}
