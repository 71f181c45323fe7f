using Autograd.Data;

namespace Autograd.Distributed.Tests;

public class DistributedSamplerTests
{
    private static int[][] Shares(int length, int replicas, bool shuffle, bool dropLast, int epoch = 0)
    {
        return [.. Enumerable.Range(0, replicas).Select(r =>
        {
            var s = new DistributedSampler(length, replicas, r, shuffle, seed: 11, dropLast: dropLast);
            s.SetEpoch(epoch);
            return s.ToArray();
        })];
    }

    [Test]
    public void EveryRank_GetsTheSameCount_AndTogetherTheyCoverEverySample([Values(0, 1, 5, 7, 8, 64, 101)] int length, [Values(1, 2, 3, 4)] int replicas, [Values] bool shuffle)
    {
        var shares = Shares(length, replicas, shuffle, dropLast: false);
        var count = (length + replicas - 1) / replicas;
        Assert.That(shares.Select(s => s.Length), Is.All.EqualTo(count));
        var all = shares.SelectMany(s => s).ToArray();
        Assert.That(all.Distinct().Order(), Is.EqualTo(Enumerable.Range(0, length)), "every sample is seen");
        Assert.That(all, Has.Length.EqualTo(count * replicas));
    }

    [Test]
    public void DropLast_CutsToAMultiple_AndNoSampleIsSeenTwice([Values(4, 7, 9, 101)] int length, [Values(2, 3, 4)] int replicas)
    {
        var shares = Shares(length, replicas, shuffle: true, dropLast: true);
        Assert.That(shares.Select(s => s.Length), Is.All.EqualTo(length / replicas));
        var all = shares.SelectMany(s => s).ToArray();
        Assert.That(all.Distinct().Count(), Is.EqualTo(all.Length));
    }

    [Test]
    public void Padding_RepeatsTheStartOfTheOrder()
    {
        // 5 samples on 4 ranks: 8 positions, the order then its first 3 again (PyTorch's rule).
        var order = RandomSampler.Permutation(5, 11);
        var shares = Shares(5, 4, shuffle: true, dropLast: false);
        int[] padded = [.. order, .. order[..3]];
        for (var r = 0; r < 4; r++)
        {
            Assert.That(shares[r], Is.EqualTo(new[] { padded[r], padded[r + 4] }));
        }
    }

    [Test]
    public void SetEpoch_ChangesTheOrder_TheSameWayOnEveryRank()
    {
        var e0 = Shares(64, 2, shuffle: true, dropLast: false, epoch: 0);
        var e1 = Shares(64, 2, shuffle: true, dropLast: false, epoch: 1);
        Assert.That(e1[0], Is.Not.EqualTo(e0[0]));
        Assert.That(e1[0].Concat(e1[1]).Order(), Is.EqualTo(Enumerable.Range(0, 64)), "epoch 1 is still a partition");
    }

    [Test]
    public void RanksAtBatchB_TakeTogetherTheBatchesOfOneProcessAtBatchRB([Values(2, 3)] int replicas)
    {
        // 10 samples per rank-batch: the loader's own shuffle at batch R·10 against R samplers at batch 10.
        const int b = 10;
        var data = new TensorDataset<float>(Tensor.Arange<float>(120f).Reshape(120, 1), [.. Enumerable.Range(0, 120)]);
        var alone = new DataLoader<float>(data, replicas * b, shuffle: true, seed: 11);
        alone.Epoch = 2;
        var ranks = Enumerable.Range(0, replicas)
            .Select(r => new DataLoader<float>(data, b, sampler: new DistributedSampler(120, replicas, r, seed: 11)) { Epoch = 2 })
            .Select(l => l.Select(batch => batch.Y.ToArray()).ToList())
            .ToList();
        var k = 0;
        foreach (var batch in alone)
        {
            var together = ranks.SelectMany(r => r[k]).Order();
            Assert.That(together, Is.EqualTo(batch.Y.Order()), $"step {k}");
            k++;
        }

        Assert.That(ranks.Select(r => r.Count), Is.All.EqualTo(k));
    }

    [Test]
    public void BadArguments_NameTheArgument()
    {
        Assert.That(Assert.Throws<ArgumentException>(() => new DistributedSampler(-1, 2, 0))!.Message, Does.Contain("length"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new DistributedSampler(10, 0, 0))!.ParamName, Is.EqualTo("numReplicas"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new DistributedSampler(10, 2, 2))!.Message, Does.Contain("rank must be in 0 … 1"));
        Assert.That(Assert.Throws<ArgumentException>(() => new DistributedSampler(1, 2, 0, dropLast: true))!.ParamName, Is.EqualTo("dropLast"));
    }

    [Test]
    public void WithoutMpirun_TheWorldIsOneRank()
    {
        Assume.That(ProcessGroup.IsLaunchedByMpirun, Is.False);
        var s = new DistributedSampler(10, shuffle: false);
        Assert.That((s.NumReplicas, s.Rank, s.Count), Is.EqualTo((1, 0, 10)));
        Assert.That(s, Is.EqualTo(Enumerable.Range(0, 10)));
    }
}
