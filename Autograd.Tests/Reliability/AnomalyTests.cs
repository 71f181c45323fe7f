using System.Runtime.CompilerServices;
using Autograd;

namespace Autograd.Tests.Reliability;

/// <summary>
/// Anomaly mode: inside <c>Tensor.DetectAnomaly()</c> a NaN or infinity in a recorded op's result or in a
/// VJP's gradient throws <see cref="AnomalyException"/> naming the op, the phase, the input that carried it
/// (or that the op made it) and the line that recorded the op; outside the scope nothing is checked.
/// </summary>
public class AnomalyTests
{
    private const string ThisFile = "AnomalyTests.cs";

    private static int Line([CallerLineNumber] int line = 0) => line;

    private static Tensor<double> Leaf(params double[] values) => Tensor.FromArray(values, [values.Length], requiresGrad: true);

    private static void AssertNames(AnomalyException ex, string op, AnomalyPhase phase, int line)
    {
        Assert.That(ex.OpName, Is.EqualTo(op));
        Assert.That(ex.Phase, Is.EqualTo(phase));
        Assert.That(ex.CallSite.FileName, Is.EqualTo(ThisFile));
        Assert.That(ex.CallSite.Line, Is.EqualTo(line));
        Assert.That(ex.Message, Does.StartWith($"Anomaly ({(phase == AnomalyPhase.Forward ? "forward" : "backward")})"));
        Assert.That(ex.Message, Does.Contain($"'{op}' (node #{ex.Sequence}) at {ThisFile}:{line}"));
    }

    [Test]
    public void Forward_LogOfZero_IsMadeByTheOp()
    {
        var x = Leaf(1, 0);
        using var anomaly = Tensor.DetectAnomaly();
        int line = 0;
        var ex = Assert.Throws<AnomalyException>(() => { line = Line(); x.Log(); })!;
        AssertNames(ex, "Log", AnomalyPhase.Forward, line);
        Assert.That(ex.InputCarriedIt, Is.False);
        Assert.That(ex.Input, Is.Null);
        Assert.That(ex.OffendingNumber, Is.EqualTo(double.NegativeInfinity));
        Assert.That(ex.Message, Does.Contain("-Infinity").And.Contain("from finite inputs"));
        Assert.That(ex, Is.InstanceOf<ArithmeticException>());
    }

    [Test]
    public void Forward_SqrtOfMinusOne_IsNaNMadeByTheOp()
    {
        var x = Leaf(4, -1);
        using var anomaly = Tensor.DetectAnomaly();
        int line = 0;
        var ex = Assert.Throws<AnomalyException>(() => { line = Line(); x.Sqrt(); })!;
        AssertNames(ex, "Sqrt", AnomalyPhase.Forward, line);
        Assert.That(ex.InputCarriedIt, Is.False);
        Assert.That(double.IsNaN(ex.OffendingNumber));
        Assert.That(ex.Message, Does.Contain("NaN"));
    }

    [Test]
    public void Forward_ZeroOverZero_IsNaNMadeByDiv()
    {
        var a = Leaf(1, 0);
        var b = Leaf(2, 0);
        using var anomaly = Tensor.DetectAnomaly();
        int line = 0;
        var ex = Assert.Throws<AnomalyException>(() => { line = Line(); a.Div(b); })!;
        AssertNames(ex, "Div", AnomalyPhase.Forward, line);
        Assert.That(ex.InputCarriedIt, Is.False);
        Assert.That(double.IsNaN(ex.OffendingNumber));
    }

    [Test]
    public void Forward_OverflowToInfinity_IsMadeByTheOp()
    {
        var x = Tensor.FromArray([1f, 100f], [2], requiresGrad: true);
        using var anomaly = Tensor.DetectAnomaly();
        int line = 0;
        var ex = Assert.Throws<AnomalyException>(() => { line = Line(); x.Exp(); })!;
        AssertNames(ex, "Exp", AnomalyPhase.Forward, line);
        Assert.That(ex.OffendingNumber, Is.EqualTo(double.PositiveInfinity));
        Assert.That(ex.Message, Does.Contain("+Infinity"));
    }

    [Test]
    public void Forward_NaNInTheInputData_IsBlamedOnThatInput()
    {
        var w = Leaf(1, 2, 3);
        var data = Tensor.FromArray([0.5, double.NaN, 1], [3]);
        using var anomaly = Tensor.DetectAnomaly();
        int line = 0;
        var ex = Assert.Throws<AnomalyException>(() => { line = Line(); w.Mul(data); })!;
        AssertNames(ex, "Mul", AnomalyPhase.Forward, line);
        Assert.That(ex.InputCarriedIt, Is.True);
        Assert.That(ex.Input, Is.EqualTo(1));
        Assert.That(ex.Message, Does.Contain("its input 1 (shape [3]) already contained NaN").And.Contain("a leaf"));
    }

    [Test]
    public void Forward_InfinityInALeafParameter_IsBlamedOnInputZero()
    {
        var w = Leaf(1, double.PositiveInfinity);
        using var anomaly = Tensor.DetectAnomaly();
        var ex = Assert.Throws<AnomalyException>(() => w.Mul(w.Tanh()))!;
        Assert.That(ex.OpName, Is.EqualTo("Mul"), "tanh(∞) = 1 is finite: Tanh passes");
        Assert.That(ex.InputCarriedIt, Is.True);
        Assert.That(ex.Input, Is.EqualTo(0));
    }

    [Test]
    public void Backward_SqrtAtZero_GradientIsMadeByTheVjp()
    {
        var x = Leaf(4, 0);
        using var anomaly = Tensor.DetectAnomaly();
        var y = x.Sqrt(); var line = Line();
        var loss = y.Sum();
        var ex = Assert.Throws<AnomalyException>(() => loss.Backward())!;
        AssertNames(ex, "Sqrt", AnomalyPhase.Backward, line);
        Assert.That(ex.InputCarriedIt, Is.False);
        Assert.That(ex.Input, Is.EqualTo(0));
        Assert.That(ex.OffendingNumber, Is.EqualTo(double.PositiveInfinity));
        Assert.That(ex.Message, Does.Contain("the VJP of").And.Contain("for input 0").And.Contain("from a finite incoming gradient"));
    }

    [Test]
    public void Backward_DivsVjp_OverflowsForATinyDivisor()
    {
        // d(a/b)/db = −g·a/b²: with b = 1e-200 the forward 1/b = 1e200 is finite, the gradient overflows.
        var a = Leaf(1, 1);
        var b = Leaf(1, 1e-200);
        using var anomaly = Tensor.DetectAnomaly();
        var y = a.Div(b); var line = Line();
        var ex = Assert.Throws<AnomalyException>(() => y.Sum().Backward())!;
        AssertNames(ex, "Div", AnomalyPhase.Backward, line);
        Assert.That(ex.InputCarriedIt, Is.False);
        Assert.That(ex.Input, Is.EqualTo(1));
    }

    [Test]
    public void Backward_InfinityInTheIncomingGradient_IsBlamedOnIt()
    {
        var x = Leaf(1, 2);
        using var anomaly = Tensor.DetectAnomaly();
        var y = x.Exp(); var line = Line();
        var ex = Assert.Throws<AnomalyException>(() => y.Backward(Tensor.FromArray([1.0, double.PositiveInfinity], [2])))!;
        AssertNames(ex, "Exp", AnomalyPhase.Backward, line);
        Assert.That(ex.InputCarriedIt, Is.True);
        Assert.That(ex.Input, Is.EqualTo(0));
        Assert.That(ex.Message, Does.Contain("the incoming gradient of its output (shape [2]) already contained +Infinity"));
    }

    [Test]
    public void OutsideTheScope_NothingIsChecked()
    {
        var x = Leaf(1, 0, -1);
        using (Tensor.DetectAnomaly())
        {
            Assert.That(Tensor.IsAnomalyDetectionEnabled, Is.True);
        }

        Assert.That(Tensor.IsAnomalyDetectionEnabled, Is.False);
        var y = x.Log().Add(x.Sqrt());
        Assert.That(y.ToArray().Count(double.IsFinite), Is.EqualTo(1));
        y.Backward(Tensor.Ones<double>(3));
        Assert.That(x.Grad!.ToArray().Count(double.IsFinite), Is.EqualTo(1));
    }

    [Test]
    public void Scopes_Nest_AndAnInnerFalseTurnsItOff()
    {
        var x = Leaf(0);
        using (Tensor.DetectAnomaly())
        {
            using (Tensor.DetectAnomaly(enabled: false))
            {
                Assert.That(x.Log().Item(), Is.EqualTo(double.NegativeInfinity));
            }

            Assert.Throws<AnomalyException>(() => x.Log());
            using (Tensor.DetectAnomaly())
            {
                Assert.Throws<AnomalyException>(() => x.Log());
            }

            Assert.Throws<AnomalyException>(() => x.Log());
        }

        Assert.DoesNotThrow(() => x.Log());
    }

    [Test]
    public void TheScope_BelongsToItsThread()
    {
        // A thread started before the scope does not see it (one started inside inherits it, as with NoGrad).
        var x = Leaf(0);
        using var entered = new ManualResetEventSlim();
        Exception? other = null;
        var thread = new Thread(() =>
        {
            entered.Wait();
            try
            {
                x.Log();
            }
            catch (Exception e)
            {
                other = e;
            }
        });
        thread.Start();
        using var anomaly = Tensor.DetectAnomaly();
        entered.Set();
        thread.Join();
        Assert.That(other, Is.Null);
        Assert.Throws<AnomalyException>(() => x.Log());
    }

    [Test]
    public void FiniteTraining_InsideTheScope_ThrowsNothing()
    {
        var w = Leaf(0.5, -0.25, 1);
        var x = Tensor.FromArray([1.0, 2, 3, 4, 5, 6], [2, 3]);
        using var anomaly = Tensor.DetectAnomaly();
        var loss = x.Mul(w).Tanh().Sum(1).Square().Mean();
        loss.Backward();
        Assert.That(w.Grad!.ToArray().All(double.IsFinite));
    }
}
