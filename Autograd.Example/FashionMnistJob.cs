using System.Diagnostics;
using System.Numerics.Tensors;
using Autograd.Data;
using Autograd.Nn;
using Autograd.Optim;

namespace Autograd.Example;

/// <summary>One epoch of the main job, as WORKLOADS.md §7 reports it.</summary>
public sealed record EpochResult(int Epoch, int Batches, double TrainSeconds, double MeanTrainLoss, double TestAccuracy, double EvalSeconds, IReadOnlyList<double> StepLosses);

/// <summary>
/// The recipe of WORKLOADS.md §7: LeNet-5 with PyTorch's default initialisation, cross-entropy (mean),
/// SGD lr 0.01 momentum 0.9, batch 64 with the last partial batch kept, the epoch-e order the
/// SplitMix64 Fisher-Yates permutation with state 1000 + e, test accuracy after each epoch.
/// </summary>
public sealed class FashionMnistJob
{
    public const int BatchSize = 64;
    public const double LearningRate = 0.01;
    public const double Momentum = 0.9;

    /// <summary>The shuffle state of epoch 0 is ShuffleSeed + seed (1000 for seed 0, as the peers).</summary>
    public const ulong ShuffleSeed = 1000;

    private readonly TensorDataset<float> _test;
    private readonly SGD<float> _optimizer;
    private readonly DataLoader<float> _loader;
    private readonly Module<float> _trained;

    /// <param name="model">Trained in place.</param>
    /// <param name="train">Training set, shuffled each epoch.</param>
    /// <param name="test">Evaluated after each epoch.</param>
    /// <param name="seed">Offsets the shuffle state (the model's initialisation is seeded by whoever made it).</param>
    /// <param name="sampler">
    /// This process's share of each epoch (the distributed job's DistributedSampler, seeded with
    /// <see cref="ShuffleSeed"/> + seed); null: the whole shuffled training set.
    /// </param>
    /// <param name="batchSize">Samples per step in this process (the distributed job: 64 / ranks).</param>
    /// <param name="trainModule">What the training steps run (a DistributedDataParallel around <paramref name="model"/>); null: the model.</param>
    public FashionMnistJob(Module<float> model, TensorDataset<float> train, TensorDataset<float> test, ulong seed = 0, Sampler? sampler = null, int batchSize = BatchSize, Module<float>? trainModule = null)
    {
        Model = model;
        _trained = trainModule ?? model;
        _test = test;
        _optimizer = new SGD<float>(model.Parameters(), lr: LearningRate, momentum: Momentum);
        _loader = sampler is null
            ? new DataLoader<float>(train, batchSize, shuffle: true, seed: ShuffleSeed + seed)
            : new DataLoader<float>(train, batchSize, sampler: sampler);
    }

    public Module<float> Model { get; }

    /// <summary>Optimiser steps per epoch (938 on the full training set).</summary>
    public int StepsPerEpoch => _loader.Count;

    /// <summary>
    /// Trains one epoch and evaluates. <paramref name="onStep"/> gets (step, loss, images per second)
    /// after every optimiser step.
    /// </summary>
    public EpochResult RunEpoch(Action<int, double, double>? onStep = null)
    {
        var epoch = _loader.Epoch + 1;
        Model.Train();
        var losses = new List<double>(_loader.Count);
        var images = 0;
        var clock = Stopwatch.StartNew();
        foreach (var (x, y) in _loader)
        {
            _optimizer.ZeroGrad();
            var loss = _trained.Forward(x).CrossEntropy(y);
            loss.Backward();
            _optimizer.Step();
            losses.Add(loss.Item());
            images += y.Length;
            onStep?.Invoke(losses.Count, losses[^1], images / clock.Elapsed.TotalSeconds);
        }

        var trainSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var accuracy = Evaluate(Model, _test);
        return new EpochResult(epoch, losses.Count, trainSeconds, losses.Average(), accuracy, clock.Elapsed.TotalSeconds, losses);
    }

    /// <summary>Fraction of <paramref name="data"/> classified correctly (argmax of the logits), in eval mode, batches of 1000.</summary>
    public static double Evaluate(Module<float> model, TensorDataset<float> data, int batchSize = 1000)
    {
        var wasTraining = model.Training;
        model.Eval();
        var correct = 0;
        using (Tensor.NoGrad())
        {
            for (var start = 0; start < data.Count; start += batchSize)
            {
                var count = Math.Min(batchSize, data.Count - start);
                var logits = model.Forward(data.Features.Narrow(0, start, count)).ToArray();
                var classes = logits.Length / count;
                for (var i = 0; i < count; i++)
                {
                    if (TensorPrimitives.IndexOfMax(logits.AsSpan(i * classes, classes)) == data.Labels[start + i])
                    {
                        correct++;
                    }
                }
            }
        }

        model.Train(wasTraining);
        return (double)correct / data.Count;
    }
}
