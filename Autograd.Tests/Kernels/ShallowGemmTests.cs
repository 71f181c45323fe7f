using Autograd.Kernels;

namespace Autograd.Tests.Kernels;

/// <summary>
/// <c>ShallowGemm.Multiply</c> (Conv2d's kernel for few input channels or few filters) against a
/// double-precision triple loop: row counts that are and are not multiples of its 4-row tile, column
/// counts with and without a ragged vector tail, depths 1 to its maximum, A row-major and transposed,
/// with and without a bias; C's neighbours are never written.
/// </summary>
public class ShallowGemmTests
{
    [Test]
    public void Multiply_MatchesTripleLoop_WithBiasStridesAndRaggedEdges()
    {
        var rng = new Random(5);
        foreach (var (m, n, k) in new[] { (1, 1, 1), (6, 784, 25), (4, 8, 3), (7, 13, 32), (25, 31, 6), (3, 17, 2) })
        {
            foreach (var transposedA in new[] { false, true })
            {
                foreach (var withBias in new[] { false, true })
                {
                    var a = Enumerable.Range(0, m * k).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
                    var (aRow, aCol) = transposedA ? (1, m) : (k, 1);
                    var (ldb, ldc) = (n + 3, n + 5);
                    var b = Enumerable.Range(0, k * ldb).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
                    var bias = withBias ? Enumerable.Range(0, m).Select(_ => (float)rng.NextDouble()).ToArray() : [];
                    var c = Enumerable.Repeat(-7777.25f, m * ldc).ToArray();
                    ShallowGemm.Multiply<float>(m, n, k, a, aRow, aCol, b, ldb, c, ldc, bias);
                    for (var i = 0; i < m; i++)
                    {
                        for (var j = 0; j < ldc; j++)
                        {
                            if (j >= n)
                            {
                                Assert.That(c[i * ldc + j], Is.EqualTo(-7777.25f), $"[{m}, {k}]·[{k}, {n}] wrote past the row at ({i}, {j})");
                                continue;
                            }

                            double expected = withBias ? bias[i] : 0;
                            for (var p = 0; p < k; p++)
                            {
                                expected += (double)a[i * aRow + p * aCol] * b[p * ldb + j];
                            }

                            Assert.That(c[i * ldc + j], Is.EqualTo(expected).Within(1e-5), $"[{m}, {k}]·[{k}, {n}] at ({i}, {j}), A transposed {transposedA}, bias {withBias}");
                        }
                    }
                }
            }
        }
    }
}
