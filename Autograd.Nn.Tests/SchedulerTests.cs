using Autograd.Optim;

namespace Autograd.Nn.Tests;

/// <summary>
/// LinearLR, LambdaLR, SequentialLR and OneCycleLR against PyTorch's closed forms and documented examples.
/// Every expected rate is written out in the test (worked by hand or with Python's math module from the
/// formula in the comment), never computed by the scheduler.
/// </summary>
public class SchedulerTests
{
    private static SGD<double> Sgd(double lr, double momentum = 0) =>
        new([Tensor.Zeros<double>(2)], lr: lr, momentum: momentum);

    /// <summary>The rate at construction (epoch 0), then after each of <paramref name="steps"/> steps.</summary>
    private static List<double> Rates(LRScheduler scheduler, int steps)
    {
        var lrs = new List<double> { scheduler.GetLastLr()[0] };
        for (var i = 0; i < steps; i++)
        {
            scheduler.Step();
            lrs.Add(scheduler.GetLastLr()[0]);
        }

        return lrs;
    }

    [Test]
    public void LinearLR_FollowsItsClosedForm_StartingAtConstruction()
    {
        // PyTorch's docstring example: lr 0.05, start_factor 0.05, total_iters 40;
        // lr = 0.05·(0.05 + 0.95·min(e, 40)/40): 0.0025, 0.0036875, 0.004875, 0.0060625, 0.00725, …, 0.05 from e = 40.
        var opt = Sgd(0.05);
        var scheduler = new LinearLR(opt, startFactor: 0.05, totalIters: 40);
        Assert.That(opt.ParamGroups[0].Lr, Is.EqualTo(0.0025).Within(1e-15), "PyTorch applies epoch 0 in the constructor");
        var lrs = Rates(scheduler, 45);
        Assert.That(lrs[..5], Is.EqualTo(new[] { 0.0025, 0.0036875, 0.004875, 0.0060625, 0.00725 }).Within(1e-15));
        Assert.That(lrs[39], Is.EqualTo(0.05 * (0.05 + 0.95 * 39 / 40)).Within(1e-15));
        Assert.That(lrs[40..], Is.All.EqualTo(0.05).Within(1e-15));
        Assert.That(scheduler.LastEpoch, Is.EqualTo(45));
        Assert.That(opt.ParamGroups[0].InitialLr, Is.EqualTo(0.05));
        Assert.That(Assert.Throws<ArgumentException>(() => opt.ParamGroups[0].InitialLr = -1)!.Message, Does.StartWith("ParamGroup: InitialLr must be finite and >= 0, got -1"));
    }

    [Test]
    public void LinearLR_Defaults_ArePyTorchs_AndBadFactorsAreRejected()
    {
        var scheduler = new LinearLR(Sgd(0.3));
        Assert.That((scheduler.StartFactor, scheduler.EndFactor, scheduler.TotalIters), Is.EqualTo((1.0 / 3, 1.0, 5)));
        // 0.3·(1/3 + (2/3)·e/5): 0.1, 0.14, 0.18, 0.22, 0.26, 0.3
        Assert.That(Rates(scheduler, 6), Is.EqualTo(new[] { 0.1, 0.14, 0.18, 0.22, 0.26, 0.3, 0.3 }).Within(1e-15));
        Assert.That(Assert.Throws<ArgumentException>(() => new LinearLR(Sgd(0.1), startFactor: 0))!.Message, Does.StartWith("LinearLR: startFactor must be in (0, 1], got 0"));
        Assert.That(Assert.Throws<ArgumentException>(() => new LinearLR(Sgd(0.1), endFactor: 1.5))!.Message, Does.StartWith("LinearLR: endFactor must be in [0, 1], got 1.5"));
        Assert.That(Assert.Throws<ArgumentException>(() => new LinearLR(Sgd(0.1), totalIters: 0))!.Message, Does.StartWith("LinearLR: totalIters must be positive, got 0"));
    }

    [Test]
    public void LambdaLR_IsBaseTimesLambda_FromEpochZero()
    {
        // PyTorch's docstring lambda 0.95^epoch on lr 0.05: 0.05, 0.0475, 0.045125, 0.04286875.
        var opt = Sgd(0.05);
        Assert.That(Rates(new LambdaLR(opt, e => Math.Pow(0.95, e)), 3), Is.EqualTo(new[] { 0.05, 0.0475, 0.045125, 0.04286875 }).Within(1e-15));
        // λ(0) applies at construction: with epoch // 30 (the docstring's other lambda) the rate starts at 0.
        var zero = Sgd(0.05);
        _ = new LambdaLR(zero, e => e / 30);
        Assert.That(zero.ParamGroups[0].Lr, Is.EqualTo(0.0));
        Assert.Throws<ArgumentNullException>(() => new LambdaLR(Sgd(0.1), null!));
        var ex = Assert.Throws<InvalidOperationException>(() => new LambdaLR(Sgd(0.1), e => -1));
        Assert.That(ex!.Message, Does.StartWith("LambdaLR: lrLambda(0) returned -1; the factor must be finite and >= 0"));
    }

    [Test]
    public void SequentialLR_IsPyTorchsDocstringExample()
    {
        // PyTorch's docstring: lr 0.05, ConstantLR(factor 0.1, total_iters 20) then ExponentialLR(gamma 0.9) at milestone 20:
        // 0.005 for epochs 0..19, then 0.05, 0.045, 0.0405 at epochs 20, 21, 22. ConstantLR with factor f is a LinearLR
        // from f to f; ExponentialLR is λ(e) = 0.9^e.
        var opt = Sgd(0.05);
        var constant = new LinearLR(opt, startFactor: 0.1, endFactor: 0.1, totalIters: 20);
        var exponential = new LambdaLR(opt, e => Math.Pow(0.9, e));
        var scheduler = new SequentialLR(opt, [constant, exponential], [20]);
        var lrs = Rates(scheduler, 22);
        Assert.That(lrs[..20], Is.All.EqualTo(0.005).Within(1e-15));
        Assert.That(lrs[20..], Is.EqualTo(new[] { 0.05, 0.045, 0.0405 }).Within(1e-15));
        Assert.That(exponential.LastEpoch, Is.EqualTo(2), "the second part counts its own epochs from the milestone");
    }

    [Test]
    public void SequentialLR_ChecksItsParts()
    {
        var opt = Sgd(0.1);
        var a = new LinearLR(opt);
        var b = new LambdaLR(opt, _ => 1);
        var other = new LinearLR(Sgd(0.1));
        Assert.That(Assert.Throws<ArgumentException>(() => new SequentialLR(opt, [], []))!.Message, Does.StartWith("SequentialLR: expects at least one scheduler"));
        Assert.That(Assert.Throws<ArgumentException>(() => new SequentialLR(opt, [a, other], [3]))!.Message, Does.StartWith("SequentialLR: scheduler 1 (LinearLR) drives another optimiser"));
        Assert.That(Assert.Throws<ArgumentException>(() => new SequentialLR(opt, [a, b], [3, 5]))!.Message, Does.StartWith("SequentialLR: expects 1 milestones for 2 schedulers"));
        Assert.That(Assert.Throws<ArgumentException>(() => new SequentialLR(opt, [a, b], [0]))!.Message, Does.StartWith("SequentialLR: milestones must be positive and increasing, got [0]"));
        Assert.That(Assert.Throws<ArgumentException>(() => new SequentialLR(opt, [a, b, a], [4, 4]))!.Message, Does.Contain("got [4, 4]"));
    }

    // OneCycleLR, max_lr 1, total_steps 10, pct_start 0.3, div 25, final_div 1e4: initial 0.04, min 4e-6; phase ends 2 and 9.
    // Expected values from PyTorch's get_lr written out in Python: cos anneal end + (start − end)/2·(1 + cos(π·pct)).
    private static readonly double[] TwoPhaseCosLr =
    [
        0.040000000000000036, 0.52, 1.0, 0.9504846320134737, 0.8117456539497631, 0.6112620219362893,
        0.38874197806371075, 0.18825834605023697, 0.049519367986526286, 4e-06, 0.04951936798652623,
    ];

    private static readonly double[] TwoPhaseCosMomentum =
    [
        0.95, 0.8999999999999999, 0.85, 0.854951556604879, 0.8688255099070633, 0.8888739533021842,
        0.9111260466978157, 0.9311744900929366, 0.945048443395121, 0.95, 0.945048443395121,
    ];

    [Test]
    public void OneCycleLR_TwoPhases_Cos_CyclesLrAndSgdMomentum()
    {
        var opt = Sgd(0.5, momentum: 0.9);
        var scheduler = new OneCycleLR(opt, maxLr: 1.0, totalSteps: 10);
        var lrs = new List<double>();
        var momenta = new List<double>();
        for (var s = 0; s <= 10; s++)
        {
            if (s > 0)
            {
                scheduler.Step();
            }

            lrs.Add(opt.ParamGroups[0].Lr);
            momenta.Add(((SgdOptions)opt.ParamGroups[0].Options).Momentum);
        }

        Assert.That(lrs, Is.EqualTo(TwoPhaseCosLr).Within(1e-12));
        Assert.That(momenta, Is.EqualTo(TwoPhaseCosMomentum).Within(1e-12));
        Assert.That(opt.ParamGroups[0].InitialLr, Is.EqualTo(0.04).Within(1e-15), "PyTorch sets initial_lr = max_lr / div_factor");
        var ex = Assert.Throws<InvalidOperationException>(scheduler.Step);
        Assert.That(ex!.Message, Does.StartWith("OneCycleLR: tried to step 11 times; the specified number of total steps is 10"));
    }

    [Test]
    public void OneCycleLR_Linear_ThreePhase_AndAdamsBeta1()
    {
        // linear anneal (end − start)·pct + start: 0.04, 0.52, 1, then max → min over steps 2..9
        var opt = Sgd(0.5);
        Assert.That(Rates(new OneCycleLR(opt, 1.0, 10, annealStrategy: "linear", cycleMomentum: false), 9),
            Is.EqualTo(new[] { 0.04, 0.52, 1.0, 0.8571434285714286, 0.7142868571428571, 0.5714302857142857, 0.42857371428571434, 0.2857171428571429, 0.14286057142857145, 4.000000000004e-06 }).Within(1e-12));
        Assert.That(((SgdOptions)opt.ParamGroups[0].Options).Momentum, Is.EqualTo(0.0), "momentum left alone without cycleMomentum");

        // three phases end at 2, 4, 9: up to max, back to initial, then down to min with momentum at max.
        var adam = new AdamW<double>([Tensor.Zeros<double>(2)], betas: (0.9, 0.99));
        var scheduler = new OneCycleLR(adam, 1.0, 10, threePhase: true);
        Assert.That(Rates(scheduler, 9), Is.EqualTo(new[] { 0.040000000000000036, 0.52, 1.0, 0.52, 0.04, 0.0361807218535102, 0.0261817218535102, 0.013822278146489805, 0.0038232781464898036, 4e-06 }).Within(1e-12));
        var options = (AdamOptions)adam.ParamGroups[0].Options;
        Assert.That((options.Beta1, options.Beta2), Is.EqualTo((0.95, 0.99)), "β1 cycles, β2 stays");
        Assert.That(options, Is.TypeOf<AdamWOptions>(), "the group keeps its options type");
    }

    [Test]
    public void OneCycleLR_ChecksItsArguments()
    {
        Assert.That(Assert.Throws<ArgumentException>(() => new OneCycleLR(Sgd(0.1), 1.0, 0))!.Message, Does.StartWith("OneCycleLR: expected a positive totalSteps, got 0"));
        Assert.That(Assert.Throws<ArgumentException>(() => new OneCycleLR(Sgd(0.1), 1.0, 10, pctStart: 1.5))!.Message, Does.StartWith("OneCycleLR: expected pctStart in [0, 1], got 1.5"));
        Assert.That(Assert.Throws<ArgumentException>(() => new OneCycleLR(Sgd(0.1), 1.0, 10, annealStrategy: "exp"))!.Message, Does.StartWith("OneCycleLR: annealStrategy must be \"cos\" or \"linear\", got \"exp\""));
        Assert.That(Assert.Throws<ArgumentException>(() => new OneCycleLR(Sgd(0.1), -1.0, 10))!.Message, Does.StartWith("OneCycleLR: maxLr must be finite and positive, got -1"));
        Assert.That(Assert.Throws<ArgumentException>(() => new OneCycleLR(Sgd(0.1), 1.0, 10, divFactor: 0))!.Message, Does.StartWith("OneCycleLR: divFactor and finalDivFactor must be finite and positive"));
        // pct_start·total_steps = 1 makes the first phase end at step 0: PyTorch divides by zero there.
        Assert.That(Assert.Throws<ArgumentException>(() => new OneCycleLR(Sgd(0.1), 1.0, 10, pctStart: 0.1))!.Message, Does.StartWith("OneCycleLR: pctStart 0.1 with totalSteps 10 gives a phase of zero steps"));
    }

    [Test]
    public void ASchedulerMadeBeforeAGroupIsAdded_Throws()
    {
        var opt = Sgd(0.1);
        var scheduler = new LinearLR(opt);
        opt.AddParamGroup(new ParamGroup<double>([Tensor.Zeros<double>(1)]));
        Assert.That(Assert.Throws<InvalidOperationException>(scheduler.Step)!.Message, Does.StartWith("LinearLR: the optimiser has 2 parameter groups but the scheduler was made for 1"));
    }
}
