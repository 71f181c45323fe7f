using Autograd;

namespace Autograd.Tests.Core;

/// <summary>
/// <see cref="Tensor.Warmup"/> (issue 17, steady state in short runs): it repeats the step until the JIT has
/// compiled nothing for both 40 calls and 0.5 s, or the time limit ends it. The rule runs on a scripted
/// method count and clock; one test runs it on the real JIT.
/// </summary>
public class WarmupTests
{
    /// <summary>Runs the rule on a JIT that compiles one method per call for the first <paramref name="busyCalls"/> calls, each call taking <paramref name="msPerCall"/>.</summary>
    private static (WarmupResult Result, int Steps) Scripted(int busyCalls, double msPerCall, double limitSeconds = 1000)
    {
        var steps = 0;
        var result = Tensor.WarmupCore(
            () => steps++,
            TimeSpan.FromSeconds(limitSeconds),
            () => Math.Min(steps, busyCalls),
            _ => TimeSpan.FromMilliseconds(steps * msPerCall));
        return (result, steps);
    }

    [Test]
    public void SlowSteps_SettleAfterFortyQuietCalls()
    {
        // 20 ms a call: 40 quiet calls are 0.8 s, past the 0.5 s.
        var (r, steps) = Scripted(busyCalls: 100, msPerCall: 20);
        Assert.That(r.Settled, Is.True);
        Assert.That(steps, Is.EqualTo(100 + Tensor.WarmupQuietCalls));
        Assert.That(r.Calls, Is.EqualTo(steps));
        Assert.That(r.MethodsCompiled, Is.EqualTo(100));
        Assert.That(r.Elapsed, Is.EqualTo(TimeSpan.FromMilliseconds(steps * 20)));
    }

    [Test]
    public void FastSteps_SettleAfterHalfASecondQuiet()
    {
        // 1 ms a call: 40 quiet calls are only 40 ms; the rule waits for 0.5 s without a compiled method.
        var (r, steps) = Scripted(busyCalls: 10, msPerCall: 1);
        Assert.That(r.Settled, Is.True);
        Assert.That(steps, Is.EqualTo(10 + 500));
    }

    [Test]
    public void AJitThatNeverSettles_StopsAtTheTimeLimit()
    {
        var (r, steps) = Scripted(busyCalls: int.MaxValue, msPerCall: 10, limitSeconds: 2);
        Assert.That(r.Settled, Is.False);
        Assert.That(steps, Is.EqualTo(200));
        Assert.That(r.Elapsed, Is.EqualTo(TimeSpan.FromSeconds(2)));
    }

    [Test]
    public void BadArguments_NameTheOpAndArgument()
    {
        var ex = Assert.Throws<ArgumentNullException>(() => Tensor.Warmup(null!))!;
        Assert.That(ex.ParamName, Is.EqualTo("step"));
        Assert.That(ex.Message, Does.Contain("Warmup"));
        var calls = 0;
        var ex2 = Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.Warmup(() => calls++, TimeSpan.Zero))!;
        Assert.That(ex2.ParamName, Is.EqualTo("timeLimit"));
        Assert.That(ex2.Message, Does.Contain("Warmup"));
        Assert.That(calls, Is.Zero);
    }

    [Test]
    public void OnTheRealJit_AnOpSettles()
    {
        var a = Tensor.Randn<float>([64, 64], new Generator(1), requiresGrad: true);
        var calls = 0;
        var r = Tensor.Warmup(
            () =>
            {
                calls++;
                a.Grad = null;
                a.MatMul(a).Relu().Sum().Backward();
            },
            TimeSpan.FromSeconds(20));
        Assert.That(r.Calls, Is.EqualTo(calls));
        Assert.That(r.Calls, Is.GreaterThanOrEqualTo(Tensor.WarmupQuietCalls));
        if (r.Settled)
        {
            Assert.That(r.Elapsed, Is.GreaterThanOrEqualTo(Tensor.WarmupQuietTime));
        }
    }
}
