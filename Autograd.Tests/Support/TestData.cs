using Autograd;

namespace Autograd.Tests.Support;

/// <summary>Value shapers that keep generated inputs away from kinks, and repository paths.</summary>
internal static class TestData
{
    /// <summary>
    /// Overwrites a leaf with a random permutation of values spaced 0.1 apart, so no two elements are
    /// within a finite-difference step of each other (no ties for Max and pooling).
    /// </summary>
    public static Tensor<double> Distinct(Tensor<double> leaf, Generator g)
    {
        var data = leaf.Storage.Span;
        var n = data.Length;
        var order = Enumerable.Range(0, n).ToArray();
        for (var i = n - 1; i > 0; i--)
        {
            var j = g.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }

        for (var i = 0; i < n; i++)
        {
            data[i] = 0.1 * (order[i] - n / 2.0) + 0.01 * g.NextDouble();
        }

        return leaf;
    }

    /// <summary>Pushes every value of a leaf at least <paramref name="margin"/> away from zero (no ReLU kink).</summary>
    public static Tensor<double> AwayFromZero(Tensor<double> leaf, double margin = 0.1)
    {
        var data = leaf.Storage.Span;
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = data[i] >= 0 ? data[i] + margin : data[i] - margin;
        }

        return leaf;
    }

    /// <summary>The repository root (the folder holding Autograd.sln).</summary>
    public static string RepoRoot()
    {
        var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Autograd.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Autograd.sln not found above the test directory.");
    }

    /// <summary>Shape of the last <paramref name="rank"/> dims of <paramref name="full"/>, with dims whose bit is set in <paramref name="ones"/> forced to 1.</summary>
    public static int[] Suffix(int[] full, int rank, int ones)
    {
        var shape = full[^rank..].ToArray();
        for (var i = 0; i < shape.Length; i++)
        {
            if ((ones & (1 << i)) != 0)
            {
                shape[i] = 1;
            }
        }

        return shape;
    }
}
