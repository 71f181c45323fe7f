using Autograd;

namespace Autograd.Tests.Reliability;

/// <summary>
/// Threads record on their own tapes (grad mode and the tape are per async flow): independent models
/// trained at once give the same bits as trained one after another.
/// </summary>
public class ThreadTests
{
    private const int Models = 4;
    private const int Steps = 6;

    [Test]
    public void IndependentModels_TrainedOnConcurrentThreads_MatchSequentialTrainingBitForBit()
    {
        var sequential = Enumerable.Range(0, Models).Select(Train).ToArray();

        var concurrent = new float[Models][];
        var failures = new Exception?[Models];
        using var start = new Barrier(Models);
        var threads = Enumerable.Range(0, Models).Select(i => new Thread(() =>
        {
            try
            {
                start.SignalAndWait();
                concurrent[i] = Train(i);
            }
            catch (Exception e)
            {
                failures[i] = e;
            }
        })).ToArray();
        foreach (var thread in threads)
        {
            thread.Start();
        }

        foreach (var thread in threads)
        {
            thread.Join();
        }

        Assert.That(failures, Is.All.Null);
        for (var i = 0; i < Models; i++)
        {
            Assert.That(
                concurrent[i].Select(BitConverter.SingleToInt32Bits),
                Is.EqualTo(sequential[i].Select(BitConverter.SingleToInt32Bits)),
                $"model {i}: losses and parameters after {Steps} steps differ from the sequential run");
        }
    }

    /// <summary>
    /// A conv + linear classifier trained for a few SGD steps with in-place updates under NoGrad, all
    /// from its own seed. Returns the losses of every step followed by the final parameters.
    /// </summary>
    private static float[] Train(int model)
    {
        var gen = new Generator((ulong)(1000 + model));
        var x = Tensor.Randn<float>([8, 1, 12, 12], gen);
        int[] y = [.. Enumerable.Range(0, 8).Select(i => (i * 3 + model) % 10)];
        var w1 = Tensor.Randn<float>([4, 1, 3, 3], gen, requiresGrad: true);
        var b1 = Tensor.Randn<float>([4], gen, requiresGrad: true);
        var w2 = Tensor.Randn<float>([4 * 5 * 5, 10], gen, requiresGrad: true);
        Tensor<float>[] parameters = [w1, b1, w2];
        var record = new List<float>();
        for (var step = 0; step < Steps; step++)
        {
            var h = x.Conv2d(w1, b1).Relu().MaxPool2d(2);     // [8, 4, 5, 5]
            var loss = h.Flatten(1).MatMul(w2).CrossEntropy(y);
            loss.Backward();
            record.Add(loss.Item());
            using (Tensor.NoGrad())
            {
                foreach (var p in parameters)
                {
                    p.SubInPlace(p.Grad!, 0.05f);
                    p.ZeroGrad();
                }
            }
        }

        foreach (var p in parameters)
        {
            record.AddRange(p.ToArray());
        }

        return [.. record];
    }
}
