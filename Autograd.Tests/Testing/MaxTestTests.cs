using Autograd.Testing;
using FsCheck;
using FsCheck.Fluent;

namespace Autograd.Tests.Testing;

/// <summary>
/// <see cref="GradProperty.MaxTestVariable"/> (AUTOGRAD_PROPERTY_MAX_TEST, set by scripts/mutation.sh) caps the
/// cases a property checks, never raises them, and is ignored unless it is a positive integer.
/// </summary>
[NonParallelizable] // Sets a process-wide environment variable.
public class MaxTestTests
{
    private static int CasesRun(int maxTest, string? cap)
    {
        var saved = Environment.GetEnvironmentVariable(GradProperty.MaxTestVariable);
        Environment.SetEnvironmentVariable(GradProperty.MaxTestVariable, cap);
        try
        {
            // A cap that reached FsCheck as 0 or a negative count would never stop: fail past 1000 cases instead.
            var count = 0;
            GradProperty.Check(Prop.ForAll(ArbMap.Default.ArbFor<int>(), (int _) => ++count <= 1000), maxTest);
            return count;
        }
        finally
        {
            Environment.SetEnvironmentVariable(GradProperty.MaxTestVariable, saved);
        }
    }

    [TestCase(100, "7", 7)]
    [TestCase(5, "7", 5)]
    [TestCase(40, null, 40)]
    [TestCase(40, "0", 40)]
    [TestCase(40, "-3", 40)]
    [TestCase(40, "many", 40)]
    public void MaxTestVariable_CapsTheCases(int maxTest, string? cap, int expected) =>
        Assert.That(CasesRun(maxTest, cap), Is.EqualTo(expected));

    [Test]
    public void MaxTestVariable_StillReportsAFailure()
    {
        var saved = Environment.GetEnvironmentVariable(GradProperty.MaxTestVariable);
        Environment.SetEnvironmentVariable(GradProperty.MaxTestVariable, "3");
        try
        {
            Assert.Throws<GradPropertyException>(() => GradProperty.Check(Prop.ForAll(ArbMap.Default.ArbFor<int>(), (int _) => false), maxTest: 100));
        }
        finally
        {
            Environment.SetEnvironmentVariable(GradProperty.MaxTestVariable, saved);
        }
    }
}
