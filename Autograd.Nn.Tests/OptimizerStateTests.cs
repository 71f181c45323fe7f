using Autograd.Data;
using Autograd.Optim;

namespace Autograd.Nn.Tests;

/// <summary>RMSprop and Adagrad against PyTorch, ReduceLROnPlateau, and optimiser and scheduler state dicts.</summary>
public class OptimizerStateTests
{
    // The PyTorch cases: torch 1.13 (/usr/bin/python3), float64, p0 and the loss below, five steps of
    //   opt.zero_grad(); (((p - t) ** 2) * s).sum().backward(); opt.step()
    // printing p.flatten().tolist() with repr.
    private static readonly double[] P0 = [0.5, -1.25, 2.0, 0.75, -0.3, 1.1];
    private static readonly double[] Target = [1.0, 0.5, -1.0, 0.0, 2.0, 0.25];
    private static readonly double[] Scale = [1.0, 2.0, 0.5, 3.0, 1.5, 0.25];

    private static Tensor<double> Leaf() => Tensor.FromArray(new double[2], [2], requiresGrad: true);

    private static double[] FiveSteps(Func<Tensor<double>, Optimizer<double>> make)
    {
        var p = Tensor.FromArray((double[])P0.Clone(), [2, 3], requiresGrad: true);
        var t = Tensor.FromArray(Target, [2, 3]);
        var s = Tensor.FromArray(Scale, [2, 3]);
        var optimizer = make(p);
        for (var i = 0; i < 5; i++)
        {
            optimizer.ZeroGrad();
            ((p - t) * (p - t) * s).Sum().Backward();
            optimizer.Step();
        }

        return p.ToArray();
    }

    [Test]
    public void RMSprop_MatchesPyTorch()
    {
        // torch.optim.RMSprop(ps)
        Assert.That(FiveSteps(p => new RMSprop<double>([p])), Is.EqualTo(new[]
        {
            0.7784289999479106, -0.9369860662321801, 1.682053845620525, 0.4543779429764319, 0.015873449738277333, 0.8005960775502167,
        }).Within(1e-13));

        // torch.optim.RMSprop(ps, lr=0.05, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.5, centered=True)
        Assert.That(FiveSteps(p => new RMSprop<double>([p], lr: 0.05, alpha: 0.9, eps: 1e-6, weightDecay: 0.1, momentum: 0.5, centered: true)), Is.EqualTo(new[]
        {
            1.029445720780094, -0.3280453715740069, 1.0350022405122734, 0.004273026218158236, 0.6464835218364997, 0.30097607616478705,
        }).Within(1e-13));

        // torch.optim.RMSprop(ps, lr=0.02, momentum=0.9, maximize=True)
        Assert.That(FiveSteps(p => new RMSprop<double>([p], lr: 0.02, momentum: 0.9, maximize: true)), Is.EqualTo(new[]
        {
            -1.7263864398882263, -3.2929952158022817, 3.9919884122177813, 2.9097493662476226, -2.3148331433019127, 3.2401091358013625,
        }).Within(1e-13));
    }

    [Test]
    public void Adagrad_MatchesPyTorch()
    {
        // torch.optim.Adagrad(ps, lr=0.1)
        Assert.That(FiveSteps(p => new Adagrad<double>([p], lr: 0.1)), Is.EqualTo(new[]
        {
            0.7773082157166666, -0.9382628265404475, 1.6833400927270943, 0.4555948032659656, 0.014590769959215488, 0.8018292975262138,
        }).Within(1e-13));

        // torch.optim.Adagrad(ps, lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2, eps=1e-8)
        Assert.That(FiveSteps(p => new Adagrad<double>([p], lr: 0.1, lrDecay: 0.05, weightDecay: 0.1, initialAccumulatorValue: 0.2, eps: 1e-8)), Is.EqualTo(new[]
        {
            0.743203547530012, -0.9594767160404081, 1.706720627708552, 0.47443921774535197, -0.007235917421980161, 0.8602192069947573,
        }).Within(1e-13));
    }

    [Test]
    public void NewOptimizers_CheckTheirOptions()
    {
        var p = Leaf();
        Assert.That(Assert.Throws<ArgumentException>(() => new RMSprop<double>([p], alpha: -0.5))!.Message, Does.Contain("RMSprop: invalid alpha -0.5"));
        Assert.That(Assert.Throws<ArgumentException>(() => new RMSprop<double>([p], momentum: double.NaN))!.Message, Does.Contain("invalid momentum NaN"));
        Assert.That(Assert.Throws<ArgumentException>(() => new Adagrad<double>([p], lrDecay: -1))!.Message, Does.Contain("Adagrad: invalid lr decay -1"));
        Assert.That(Assert.Throws<ArgumentException>(() => new Adagrad<double>([p], initialAccumulatorValue: -1))!.Message, Does.Contain("invalid initial accumulator value -1"));
    }

    private static List<double> Plateau(ReduceLROnPlateau scheduler, IOptimizer optimizer, IEnumerable<double> metrics) =>
        [.. metrics.Select(m =>
        {
            scheduler.Step(m);
            return optimizer.ParamGroups[0].Lr;
        })];

    [Test]
    public void ReduceLROnPlateau_MatchesPyTorch()
    {
        // torch.optim.lr_scheduler.ReduceLROnPlateau(SGD([p], lr=1.0), mode='min', factor=0.5, patience=2, threshold=0.1,
        // threshold_mode='rel', cooldown=1, min_lr=0.1), then step(m) for each metric, reading param_groups[0]['lr'].
        var sgd = new SGD<double>([Leaf()], lr: 1.0);
        var minRel = new ReduceLROnPlateau(sgd, mode: "min", factor: 0.5, patience: 2, threshold: 0.1, thresholdMode: "rel", cooldown: 1, minLr: 0.1);
        double[] metrics = [10, 9.5, 9.2, 9.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        Assert.That(Plateau(minRel, sgd, metrics), Is.EqualTo(new[]
        {
            1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.125, 0.125, 0.125, 0.125, 0.125, 0.1, 0.1, 0.1, 0.1,
        }));

        // mode='max', factor=0.1, patience=0, threshold=0.5, threshold_mode='abs', eps=1e-3: the last cut (0.0009) is below eps.
        var sgd2 = new SGD<double>([Leaf()], lr: 1.0);
        var maxAbs = new ReduceLROnPlateau(sgd2, mode: "max", factor: 0.1, patience: 0, threshold: 0.5, thresholdMode: "abs", eps: 1e-3);
        Assert.That(Plateau(maxAbs, sgd2, [1, 1.2, 2, 2.4, 3, 3, 3, 3]), Is.EqualTo(new[]
        {
            1.0, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.0010000000000000002, 0.0010000000000000002, 0.0010000000000000002,
        }));
        Assert.Throws<InvalidOperationException>(() => maxAbs.Step());
        Assert.Throws<ArgumentException>(() => new ReduceLROnPlateau(sgd2, factor: 1.0));
        Assert.Throws<ArgumentException>(() => new ReduceLROnPlateau(sgd2, mode: "lowest"));
        Assert.Throws<ArgumentException>(() => maxAbs.Step(double.NaN));
    }

    /// <summary>Two groups of two parameters each (one of them never gets a gradient, so it has no state).</summary>
    private static List<Tensor<float>> Parameters(int seed)
    {
        var g = new Generator((ulong)seed);
        return [Tensor.Randn<float>([3, 2], g, requiresGrad: true), Tensor.Randn<float>([4], g, requiresGrad: true), Tensor.Randn<float>([2, 2], g, requiresGrad: true), Tensor.Randn<float>([5], g, requiresGrad: true)];
    }

    private static void Steps(Optimizer<float> optimizer, IReadOnlyList<Tensor<float>> ps, int from, int count)
    {
        for (var step = from; step < from + count; step++)
        {
            optimizer.ZeroGrad(setToNone: true);
            // A loss that changes with the step, so a wrong state shows.
            var loss = (ps[0] * ps[0] * (1 + step)).Sum() + (ps[1] * ps[1] * ps[1] * step).Sum() + (ps[2] * ps[2] * ps[2]).Sum();
            loss.Backward();
            optimizer.Step();
        }
    }

    private static IEnumerable<TestCaseData> Optimizers()
    {
        static List<ParamGroup<float>> Groups(List<Tensor<float>> ps, OptimizerOptions second) => [new(ps.Take(2)), new(ps.Skip(2), second)];
        yield return new TestCaseData(new Func<List<Tensor<float>>, Optimizer<float>>(ps =>
            new SGD<float>(Groups(ps, new SgdOptions { Lr = 0.02, Momentum = 0.5, Nesterov = true }), new SgdOptions { Lr = 0.05, Momentum = 0.9, Dampening = 0.1, WeightDecay = 1e-3 }))).SetName("SGD with momentum");
        yield return new TestCaseData(new Func<List<Tensor<float>>, Optimizer<float>>(ps =>
            new Adam<float>(Groups(ps, new AdamOptions { Lr = 0.01, Amsgrad = true }), new AdamOptions { Lr = 0.03, WeightDecay = 0.01 }))).SetName("Adam with AMSGrad");
        yield return new TestCaseData(new Func<List<Tensor<float>>, Optimizer<float>>(ps =>
            new AdamW<float>(Groups(ps, new AdamWOptions { Lr = 0.01, Beta1 = 0.8 }), new AdamWOptions { Lr = 0.03 }))).SetName("AdamW");
        yield return new TestCaseData(new Func<List<Tensor<float>>, Optimizer<float>>(ps =>
            new RMSprop<float>(Groups(ps, new RmspropOptions { Lr = 0.01, Centered = true, Momentum = 0.3 }), new RmspropOptions { Lr = 0.02, Momentum = 0.9 }))).SetName("RMSprop centered with momentum");
        yield return new TestCaseData(new Func<List<Tensor<float>>, Optimizer<float>>(ps =>
            new Adagrad<float>(Groups(ps, new AdagradOptions { Lr = 0.05, LrDecay = 0.1 }), new AdagradOptions { Lr = 0.1, InitialAccumulatorValue = 0.1 }))).SetName("Adagrad");
    }

    [TestCaseSource(nameof(Optimizers))]
    public void StateDict_LoadedIntoAFreshOptimizer_ContinuesBitForBit(Func<List<Tensor<float>>, Optimizer<float>> make)
    {
        var straight = Parameters(1);
        var uninterrupted = make(straight);
        Steps(uninterrupted, straight, 0, 6);

        var first = Parameters(1);
        var before = make(first);
        Steps(before, first, 0, 3);
        var state = before.StateDict();
        Assert.That(state.State.Keys, Is.EqualTo(new[] { 0, 1, 2 }), "parameter 3 never had a gradient, so it has no state (as PyTorch)");
        Assert.That(state.ParamGroups.Select(g => g.Params), Is.EqualTo(new[] { new[] { 0, 1 }, new[] { 2, 3 } }));
        if (before is not SGD<float>)
        {
            // PyTorch's "step" of Adam/AdamW, RMSprop and Adagrad: the updates each parameter has had (RMSprop's
            // rule does not read it, so only the state dict shows a missing count; mutation testing found it untested).
            Assert.That(state.State.Values.Select(s => s.Scalars["step"]), Is.EqualTo(new[] { 3.0, 3.0, 3.0 }), "step counts");
        }

        Steps(before, first, 3, 1);  // the snapshot must not follow later steps

        // Fresh parameters with the values at step 3 and a fresh optimiser made with other options: the state dict brings them back.
        var resumed = Parameters(2);
        var replay = Parameters(1);
        Steps(make(replay), replay, 0, 3);
        using (Tensor.NoGrad())
        {
            for (var i = 0; i < 4; i++)
            {
                resumed[i].CopyFrom(replay[i]);
            }
        }

        var after = make(resumed);
        after.ParamGroups[1].Lr = 123;
        after.LoadStateDict(state);
        Assert.That(after.ParamGroups[1].Lr, Is.EqualTo(state.ParamGroups[1].Options.Lr), "the group options come from the state dict");
        Steps(after, resumed, 3, 3);
        for (var i = 0; i < 4; i++)
        {
            Assert.That(resumed[i].ToArray(), Is.EqualTo(straight[i].ToArray()), $"parameter {i}");
        }
    }

    [Test]
    public void LoadStateDict_ReportsEveryMismatch_AndChangesNothing()
    {
        var ps = Parameters(3);
        var adam = new Adam<float>(ps, lr: 0.01);
        Steps(adam, ps, 0, 1);
        var state = adam.StateDict();
        state.State[0].Tensors["exp_avg"] = Tensor.Zeros<float>(2, 3);
        state.State[1].Tensors.Remove("exp_avg_sq");
        state.State[7] = new ParameterState<float>();

        var other = Parameters(4);
        var fresh = new Adam<float>(other, lr: 0.5);
        var error = Assert.Throws<StateDictException>(() => fresh.LoadStateDict(state))!;
        Assert.That(error.Errors, Has.Count.EqualTo(3));
        Assert.That(error.Message, Does.Contain("state of parameter 0 (shape [3, 2]): 'exp_avg' has shape [2, 3] but the parameter has [3, 2]"));
        Assert.That(error.Message, Does.Contain("state of parameter 1 (shape [4]): missing 'exp_avg_sq'"));
        Assert.That(error.Message, Does.Contain("state for parameter 7, but the optimiser has 4 parameters"));
        Assert.That(fresh.ParamGroups[0].Lr, Is.EqualTo(0.5), "nothing was loaded");
        Assert.That(fresh.GetState(other[0]), Is.Null);

        var sgd = new SGD<float>(Parameters(5), lr: 0.1);
        Assert.That(Assert.Throws<StateDictException>(() => sgd.LoadStateDict(adam.StateDict()))!.Message, Does.Contain("group 0 has options of type AdamOptions but the optimiser's are SgdOptions"));
        var twoGroups = new SGD<float>([new ParamGroup<float>(Parameters(6).Take(2)), new ParamGroup<float>(Parameters(6).Skip(2))], new SgdOptions { Lr = 0.1 });
        Assert.That(Assert.Throws<StateDictException>(() => sgd.LoadStateDict(twoGroups.StateDict()))!.Message, Does.Contain("2 parameter groups but the optimiser has 1"));
    }

    [Test]
    public void SchedulerStateDicts_RoundTrip_AndCheckTheirType()
    {
        static (SGD<double> Optimizer, SequentialLR Scheduler) Make()
        {
            var sgd = new SGD<double>([Leaf()], lr: 0.1);
            var warmup = new LinearLR(sgd, startFactor: 0.1, totalIters: 3);
            var cosine = new CosineAnnealingLR(sgd, tMax: 10);
            return (sgd, new SequentialLR(sgd, [warmup, cosine], [3]));
        }

        var (sgd, scheduler) = Make();
        for (var i = 0; i < 5; i++)
        {
            scheduler.Step();
        }

        var state = scheduler.StateDict();
        Assert.That(state["last_epoch"]!.GetValue<int>(), Is.EqualTo(5));
        Assert.That(state["type"]!.GetValue<string>(), Is.EqualTo("SequentialLR"));
        var (sgd2, resumed) = Make();
        resumed.LoadStateDict(state);
        sgd2.LoadStateDict(sgd.StateDict());
        for (var i = 0; i < 4; i++)
        {
            scheduler.Step();
            resumed.Step();
            Assert.That(sgd2.ParamGroups[0].Lr, Is.EqualTo(sgd.ParamGroups[0].Lr));
        }

        Assert.That(resumed.Schedulers[1].LastEpoch, Is.EqualTo(scheduler.Schedulers[1].LastEpoch), "the parts' states travel too");
        var step = new StepLR(sgd, 2);
        var error = Assert.Throws<ArgumentException>(() => step.LoadStateDict(state))!;
        Assert.That(error.Message, Does.Contain("type is \"SequentialLR\", expected \"StepLR\""));

        var plateauSgd = new SGD<double>([Leaf()], lr: 1);
        var plateau = new ReduceLROnPlateau(plateauSgd, patience: 1);
        plateau.Step(3);
        plateau.Step(4);
        var copy = new ReduceLROnPlateau(new SGD<double>([Leaf()], lr: 1), patience: 1);
        copy.LoadStateDict(plateau.StateDict());
        Assert.That((copy.Best, copy.NumBadEpochs, copy.LastEpoch), Is.EqualTo((3.0, 1, 2)));
        var unseen = new ReduceLROnPlateau(plateauSgd, mode: "max");
        copy.LoadStateDict(unseen.StateDict());
        Assert.That(copy.Best, Is.EqualTo(double.PositiveInfinity), "no metric yet: the mode's worst (this copy's mode is min)");
    }

    [Test]
    public void GeneratorState_ContinuesTheSequenceExactly()
    {
        var g = new Generator(42);
        g.NextNormal();  // leaves a spare normal
        var state = g.GetState();
        var expected = Enumerable.Range(0, 5).Select(_ => g.NextNormal()).Append(g.NextDouble()).ToArray();
        var other = new Generator(7);
        other.SetState(state);
        Assert.That(Enumerable.Range(0, 5).Select(_ => other.NextNormal()).Append(other.NextDouble()), Is.EqualTo(expected));
        Assert.Throws<ArgumentException>(() => other.SetState(new byte[3]));
        Assert.Throws<ArgumentException>(() => other.SetState(new byte[Generator.StateSize]));
    }

    [Test]
    public void ReduceLROnPlateau_EveryModeAndThresholdMode_CountsAnEqualMetricAsNoImprovement()
    {
        // PyTorch's is_better: min/rel a < best·(1 − t), min/abs a < best − t, max/rel a > best·(1 + t),
        // max/abs a > best + t; a metric exactly at the threshold is a bad epoch. factor 0.5, patience 0.
        List<double> Run(string mode, string thresholdMode, double threshold, double[] metrics, double eps = 1e-8)
        {
            var sgd = new SGD<double>([Leaf()], lr: 1.0);
            return Plateau(new ReduceLROnPlateau(sgd, mode: mode, factor: 0.5, patience: 0, threshold: threshold, thresholdMode: thresholdMode, eps: eps), sgd, metrics);
        }

        Assert.That(Run("min", "abs", 1, [10, 9.5, 9, 8, 7.5]), Is.EqualTo(new[] { 1.0, 0.5, 0.25, 0.25, 0.125 }));
        Assert.That(Run("max", "rel", 0.5, [2, 3, 4, 6, 10]), Is.EqualTo(new[] { 1.0, 0.5, 0.5, 0.25, 0.25 }));
        Assert.That(Run("max", "abs", 1, [1, 2, 3.5]), Is.EqualTo(new[] { 1.0, 0.5, 0.5 }));
        Assert.That(Run("min", "rel", 0.5, [4, 2, 1]), Is.EqualTo(new[] { 1.0, 0.5, 0.5 }));

        // A cut of exactly eps is not made (PyTorch: old_lr − new_lr > eps).
        Assert.That(Run("min", "rel", 1e-4, [1, 1], eps: 0.5), Is.EqualTo(new[] { 1.0, 1.0 }));
    }
}
