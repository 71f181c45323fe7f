namespace Autograd.Distributed.Tests;

/// <summary>The entry point of a rank started by the multi-process tests: <c>mpirun … dotnet Autograd.Distributed.Tests.dll worker SCENARIO</c>.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args is ["worker", var scenario, ..])
        {
            return Worker.Run(scenario, args[2..]);
        }

        Console.Error.WriteLine("usage: dotnet Autograd.Distributed.Tests.dll worker (equivalence|overlap|throw)  (under mpirun; the tests start it)");
        return 2;
    }
}
