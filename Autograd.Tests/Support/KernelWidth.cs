using Autograd.Kernels;

namespace Autograd.Tests.Support;

/// <summary>Runs code with the kernels' vector width switch (<c>Simd.ForceVector256</c>) set, and restores it after.</summary>
internal static class KernelWidth
{
    /// <summary>
    /// <paramref name="body"/> at 256 bits (<paramref name="force256"/>, the width of machines without AVX-512)
    /// or at the widest width this machine has. Tests that call this are [NonParallelizable]: the switch is process-wide.
    /// </summary>
    public static TResult Run<TResult>(bool force256, Func<TResult> body)
    {
        var previous = Simd.ForceVector256;
        Simd.ForceVector256 = force256;
        try
        {
            return body();
        }
        finally
        {
            Simd.ForceVector256 = previous;
        }
    }

    /// <inheritdoc cref="Run{TResult}(bool, Func{TResult})"/>
    public static void Run(bool force256, Action body) => Run(force256, () =>
    {
        body();
        return 0;
    });
}
