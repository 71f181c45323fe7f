using Autograd;
using Autograd.Testing;

namespace Autograd.Tests.Ops;

public class ConvTranspose2dTests
{
    /// <summary>
    /// Batch, groups, input and output channels per group, spatial size, kernel, stride, padding, output
    /// padding (below the stride or the dilation, as PyTorch requires), dilation, bias, unbatched, views.
    /// </summary>
    private static CaseSpec Spec() => new CaseSpec()
        .Int("n", 1, 2).Int("groups", 1, 2).Int("cg", 1, 2).Int("og", 1, 2)
        .Int("h", 1, 3).Int("w", 1, 3).Int("kh", 1, 3).Int("kw", 1, 3)
        .Int("sh", 1, 2).Int("sw", 1, 2).Int("ph", 0, 2).Int("pw", 0, 2).Int("oph", 0, 1).Int("opw", 0, 1).Int("dh", 1, 2).Int("dw", 1, 2)
        .Int("bias", 0, 1).Int("unbatched", 0, 1)
        .Views(3)
        .Where(c => (c["oph"] < c["sh"] || c["oph"] < c["dh"]) && (c["opw"] < c["sw"] || c["opw"] < c["dw"]))
        .Where(c => OutputSize(c["h"], c["kh"], c["sh"], c["ph"], c["oph"], c["dh"]) >= 1
            && OutputSize(c["w"], c["kw"], c["sw"], c["pw"], c["opw"], c["dw"]) >= 1);

    private static int OutputSize(int size, int k, int s, int p, int op, int d) => (size - 1) * s - 2 * p + d * (k - 1) + op + 1;

    [Test]
    [Category("GradProperty")]
    public void ConvTranspose2d_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            Spec(),
            c =>
            {
                var (groups, n) = (c["groups"], c["n"]);
                var (cIn, cOut) = (groups * c["cg"], groups * c["og"]);
                int[] xShape = c["unbatched"] == 1 ? [cIn, c["h"], c["w"]] : [n, cIn, c["h"], c["w"]];
                var g = c.Generator();
                var (x, vx) = Inputs.Make(xShape, c.View(0), g);
                var (w, vw) = Inputs.Make([cIn, c["og"], c["kh"], c["kw"]], c.View(1), g);
                var (b, vb) = Inputs.Make([cOut], c.View(2), g);
                var stride = new Size2(c["sh"], c["sw"]);
                var padding = new Size2(c["ph"], c["pw"]);
                var outputPadding = new Size2(c["oph"], c["opw"]);
                var dilation = new Size2(c["dh"], c["dw"]);
                var withBias = c["bias"] == 1;
                return GradCheck.Check(
                    t => vx(t[0]).ConvTranspose2d(vw(t[1]), withBias ? vb(t[2]) : null, stride, padding, outputPadding, groups, dilation),
                    withBias ? [x, w, b] : [x, w]);
            },
            maxTest: 100);

    /// <summary>
    /// The definition, loop by loop: every input element scatters its kernel-weighted value to
    /// y[i·s − p + k·d] (positions outside the output are dropped), plus the bias.
    /// </summary>
    private static double[] Reference(double[] x, int[] xs, double[] w, int[] ws, double[]? b, int s, int p, int op, int d, int groups, out int[] shape)
    {
        var (n, cIn, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
        var (og, kh, kw) = (ws[1], ws[2], ws[3]);
        var cOut = og * groups;
        var oh = (h - 1) * s - 2 * p + d * (kh - 1) + op + 1;
        var ow = (wd - 1) * s - 2 * p + d * (kw - 1) + op + 1;
        shape = [n, cOut, oh, ow];
        var y = new double[n * cOut * oh * ow];
        for (var ni = 0; ni < n; ni++)
        {
            for (var ci = 0; ci < cIn; ci++)
            {
                var grp = ci / (cIn / groups);
                for (var o = 0; o < og; o++)
                {
                    var co = grp * og + o;
                    for (var i = 0; i < h; i++)
                    {
                        for (var j = 0; j < wd; j++)
                        {
                            for (var a = 0; a < kh; a++)
                            {
                                for (var e = 0; e < kw; e++)
                                {
                                    var (yi, yj) = (i * s - p + a * d, j * s - p + e * d);
                                    if (yi >= 0 && yi < oh && yj >= 0 && yj < ow)
                                    {
                                        y[((ni * cOut + co) * oh + yi) * ow + yj] += x[((ni * cIn + ci) * h + i) * wd + j] * w[((ci * og + o) * kh + a) * kw + e];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        if (b is not null)
        {
            for (var k = 0; k < y.Length; k++)
            {
                y[k] += b[k / (oh * ow) % cOut];
            }
        }

        return y;
    }

    [TestCase(1, 0, 0, 1, 1)]
    [TestCase(2, 1, 1, 1, 1)]
    [TestCase(2, 0, 1, 2, 2)]
    [TestCase(3, 2, 2, 1, 1)]
    [TestCase(1, 1, 1, 2, 1)]   // output padding 1 with stride 1: allowed because it is below the dilation
    public void Forward_MatchesTheDefinition(int s, int p, int op, int d, int groups)
    {
        var gen = new Generator(11);
        int[] xs = [2, 2 * groups, 3, 4];
        int[] ws = [2 * groups, 3, 3, 2];
        var x = Tensor.Randn<double>(xs, gen);
        var w = Tensor.Randn<double>(ws, gen);
        var b = Tensor.Randn<double>([3 * groups], gen);
        var y = x.ConvTranspose2d(w, b, stride: s, padding: p, outputPadding: op, groups: groups, dilation: d);
        var expected = Reference(x.ToArray(), xs, w.ToArray(), ws, b.ToArray(), s, p, op, d, groups, out var shape);
        Assert.That(y.Shape, Is.EqualTo(shape));
        Assert.That(y.ToArray(), Is.EqualTo(expected).Within(1e-12));
    }

    [Test]
    public void IsTheAdjointOfConv2d()
    {
        // ⟨conv2d(x, W), y⟩ = ⟨x, convTranspose2d(y, W)⟩, with the output padding that gives x's size back.
        var gen = new Generator(5);
        var x = Tensor.Randn<double>([2, 4, 7, 7], gen);
        var w = Tensor.Randn<double>([6, 2, 3, 2], gen);
        var cx = x.Conv2d(w, stride: (2, 3), padding: (1, 0), dilation: (1, 2), groups: 2);
        var y = Tensor.Randn<double>(cx.Shape, gen);
        var ty = y.ConvTranspose2d(w, stride: (2, 3), padding: (1, 0), outputPadding: (0, 1), groups: 2, dilation: (1, 2));
        Assert.That(ty.Shape, Is.EqualTo(x.Shape));
        Assert.That((cx * y).Sum().Item(), Is.EqualTo((x * ty).Sum().Item()).Within(1e-10));
    }

    [Test]
    public void BadArguments_NameTheOpAndTheShapes()
    {
        var x = Tensor.Zeros<float>(1, 4, 3, 3);
        var ex = Assert.Throws<ArgumentException>(() => x.ConvTranspose2d(Tensor.Zeros<float>(3, 2, 2, 2)));
        Assert.That(ex!.Message, Does.Contain("ConvTranspose2d").And.Contain("4 channels").And.Contain("[3, 2, 2, 2]"));
        ex = Assert.Throws<ArgumentException>(() => x.ConvTranspose2d(Tensor.Zeros<float>(4, 2, 2, 2), outputPadding: 1));
        Assert.That(ex!.Message, Does.Contain("output padding").And.Contain("stride"));
        ex = Assert.Throws<ArgumentException>(() => x.ConvTranspose2d(Tensor.Zeros<float>(4, 2, 2, 2), groups: 3));
        Assert.That(ex!.Message, Does.Contain("groups 3"));
        ex = Assert.Throws<ArgumentException>(() => x.ConvTranspose2d(Tensor.Zeros<float>(4, 2, 2, 2), Tensor.Zeros<float>(3)));
        Assert.That(ex!.Message, Does.Contain("bias").And.Contain("[2]"));
        ex = Assert.Throws<ArgumentException>(() => x.ConvTranspose2d(Tensor.Zeros<float>(4, 2, 1, 1), padding: 2));
        Assert.That(ex!.Message, Does.Contain("output size"));
        Assert.Throws<ArgumentException>(() => Tensor.Zeros<float>(4, 3).ConvTranspose2d(Tensor.Zeros<float>(4, 2, 1, 1)));
    }
}
