using Autograd.Kernels;

namespace Autograd.Tests.Kernels;

/// <summary>
/// <c>RowGemm</c> (WideConv's kernels, rows named by offset tables) against double-precision loops: row
/// counts on and off its 8-row tile, column counts of odd vectors (a half-width last block), A read through
/// row and column tables, overlapping rows of C added one after another, masks (infinities under them
/// stay out of the dots), and offsets that reach
/// outside a buffer refused with an ArgumentException. Each test runs at both vector widths: the widest this
/// machine has, and 256 bits (<c>Simd.ForceVector256</c>, the width of machines without AVX-512).
/// </summary>
[TestFixture(false)]
[TestFixture(true)]
[NonParallelizable] // Toggles the kernels' process-wide width switch.
public class RowGemmTests(bool force256)
{
    private bool _previous;

    [SetUp]
    public void ForceWidth()
    {
        _previous = Simd.ForceVector256;
        Simd.ForceVector256 = force256;
    }

    [TearDown]
    public void RestoreWidth() => Simd.ForceVector256 = _previous;

    [Test]
    public void Granule_IsAVectorOfTheChosenWidth()
    {
        Assume.That(RowGemm.IsSupported<float>(), "no 256-bit vectors here");
        var wide = Simd.Width<float>() == VectorWidth.Vector512;
        Assert.That(wide, Is.False.Or.EqualTo(!force256));
        Assert.That(RowGemm.Granule<float>(), Is.EqualTo(wide ? 16 : 8));
        Assert.That(RowGemm.Granule<double>(), Is.EqualTo(wide ? 8 : 4));
    }

    [Test]
    public void Multiply_OverlappingAccumulatedRows_MatchLoops()
    {
        var rng = new Random(7);
        var granule = RowGemm.Granule<float>();
        // Tiles of 8 rows and of at most 6 (1, 6: LeNet's first layer, and the last tiles of 13, 15 and 17).
        foreach (var (m, k, blocks) in new[] { (1, 1, 1), (8, 3, 2), (13, 25, 1), (17, 6, 3), (9, 4, 5), (6, 25, 3), (15, 4, 2) })
        {
            var n = blocks * granule;

            // A[i, p] = a[aRows[i] + aCols[p]]: rows k·i apart, columns 1 apart, as a row-major [m, k].
            var aRows = Enumerable.Range(0, m).Select(i => i * k).ToArray();
            var aCols = Enumerable.Range(0, k).ToArray();
            var a = Enumerable.Range(0, m * k).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
            var bRows = Enumerable.Range(0, k).Select(p => rng.Next(0, 40)).ToArray();
            var b = Enumerable.Range(0, 40 + n).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();

            // Rows of C one element apart: they overlap, as dX's rows do.
            var cRows = Enumerable.Range(0, m).Select(i => i).ToArray();
            var mask = Enumerable.Range(0, n).Select(j => j % 3 == 1 ? 0f : BitConverter.Int32BitsToSingle(-1)).ToArray();
            var c = Enumerable.Range(0, m + n).Select(_ => (float)rng.NextDouble()).ToArray();
            var expected = c.Select(v => (double)v).ToArray();
            for (var i = 0; i < m; i++)
            {
                for (var j = 0; j < n; j++)
                {
                    if (j % 3 == 1)
                    {
                        continue;
                    }

                    double sum = 0;
                    for (var p = 0; p < k; p++)
                    {
                        sum += (double)a[i * k + p] * b[bRows[p] + j];
                    }

                    expected[cRows[i] + j] += sum;
                }
            }

            RowGemm.Multiply<float>(m, n, k, a, aRows, aCols, b, bRows, c, cRows, mask, accumulate: true);
            Assert.That(c, Is.EqualTo(expected).Within(1e-4), $"m {m}, k {k}, n {n}");
        }
    }

    [Test]
    public void DotsAdd_MatchesLoops_AndSkipsMaskedColumns()
    {
        var rng = new Random(8);
        var n = 2 * RowGemm.Granule<double>();
        // 4 × 4 tiles, 3 × 5 ones (1 × 1, 6 × 9, 6 × 25: LeNet's first layer, 7 × 5) and ragged edges of both.
        foreach (var (m, rows) in new[] { (1, 1), (4, 4), (6, 9), (6, 25), (7, 5), (3, 7), (5, 3), (16, 150) })
        {
            var a = Enumerable.Range(0, m * n).Select(_ => rng.NextDouble() - 0.5).ToArray();
            var bRows = Enumerable.Range(0, rows).Select(_ => rng.Next(0, 30)).ToArray();
            var b = Enumerable.Range(0, 30 + n).Select(_ => rng.NextDouble() - 0.5).ToArray();
            var mask = Enumerable.Range(0, n).Select(j => j < n - 5 ? BitConverter.Int64BitsToDouble(-1) : 0.0).ToArray();

            // Infinities under the mask only.
            foreach (var r in bRows)
            {
                b[r + n - 1] = double.PositiveInfinity;
            }

            var c = Enumerable.Range(0, m * rows).Select(_ => rng.NextDouble()).ToArray();
            var expected = (double[])c.Clone();
            for (var i = 0; i < m; i++)
            {
                for (var r = 0; r < rows; r++)
                {
                    for (var j = 0; j < n - 5; j++)
                    {
                        expected[i * rows + r] += a[i * n + j] * b[bRows[r] + j];
                    }
                }
            }

            RowGemm.DotsAdd<double>(m, rows, n, a, n, b, bRows, mask, c, rows);
            Assert.That(c, Is.EqualTo(expected).Within(1e-12), $"m {m}, rows {rows}");
        }
    }

    [Test]
    public void RowsOutsideTheBuffer_AreRefused()
    {
        var n = RowGemm.Granule<float>();
        var a = new float[4];
        var b = new float[n + 2];
        var c = new float[4 * n];
        int[] rows = [0, 2], cols = [0, 1];
        Assert.That(() => RowGemm.Multiply<float>(2, n, 2, a, rows, cols, b, [0, 3], c, [0, n], default, accumulate: false), Throws.ArgumentException);
        Assert.That(() => RowGemm.Multiply<float>(2, n, 2, a, rows, cols, b, [0, 2], c, [0, 3 * n + 1], default, accumulate: false), Throws.ArgumentException);
        Assert.That(() => RowGemm.Multiply<float>(2, n, 2, a, rows, cols, b, [0, -1], c, [0, n], default, accumulate: false), Throws.ArgumentException);
        Assert.That(() => RowGemm.Multiply<float>(2, n - 1, 2, a, rows, cols, b, [0, 1], c, [0, n], default, accumulate: false), Throws.ArgumentException);
        Assert.That(() => RowGemm.Multiply<float>(2, n, 2, a, [0, 3], cols, b, [0, 1], c, [0, n], default, accumulate: false), Throws.ArgumentException);
        Assert.That(() => RowGemm.Multiply<float>(2, n, 2, a, rows, [0, -1], b, [0, 1], c, [0, n], default, accumulate: false), Throws.ArgumentException);
        Assert.That(() => RowGemm.DotsAdd<float>(2, 2, n, new float[2 * n], n, b, [0, 3], new float[n], c, 2), Throws.ArgumentException);
        RowGemm.Multiply<float>(2, n, 2, a, rows, cols, b, [0, 2], c, [0, n], default, accumulate: false);
    }
}
