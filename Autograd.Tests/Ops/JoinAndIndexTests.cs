using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Ops;

/// <summary>
/// Cat, Stack, Split/Chunk, IndexSelect, Gather, ScatterAdd and the C# indexer: gradients over
/// generated shapes, indices and non-contiguous inputs; values; named errors for bad shapes and indices.
/// </summary>
[Category("GradProperty")]
public class JoinAndIndexTests
{
    private static int[] Shape(Case c) => TestData.Suffix([c["d0"], c["d1"], c["d2"]], c["rank"], 0);

    private static CaseSpec Spec(int views) => new CaseSpec()
        .Int("rank", 1, 3).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4).Int("dim", 0, 2)
        .Views(views).Where(c => c["dim"] < c["rank"]);

    private static IndexTensor RandomIndex(Generator g, int[] shape, int bound)
    {
        var n = ShapeMath.Numel(shape);
        return IndexTensor.FromArray(Enumerable.Range(0, n).Select(_ => (long)g.NextInt(bound)).ToArray(), shape);
    }

    /// <summary>A shape no larger than <paramref name="limit"/> in each dimension (at least 1), or any size up to 3 in <paramref name="free"/>.</summary>
    private static int[] Within(Generator g, int[] limit, int free = -1) =>
        limit.Select((s, d) => d == free ? g.NextInt(4) : 1 + g.NextInt(s)).ToArray();

    [Test]
    public void Cat_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(Spec(3).Int("s0", 0, 3).Int("s1", 1, 3).Int("s2", 0, 2), c =>
        {
            var g = c.Generator();
            var leaves = new List<Tensor<double>>();
            var views = new List<Func<Tensor<double>, Tensor<double>>>();
            for (var i = 0; i < 3; i++)
            {
                var shape = Shape(c);
                shape[c["dim"]] = c[$"s{i}"];
                var (x, v) = Inputs.Make(shape, c.View(i), g);
                leaves.Add(x);
                views.Add(v);
            }

            return GradCheck.Check(t => Tensor.Cat([views[0](t[0]), views[1](t[1]), views[2](t[2])], c["dim"]), [.. leaves]);
        });

    [Test]
    public void Stack_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec().Int("rank", 0, 3).Int("d0", 1, 3).Int("d1", 1, 3).Int("d2", 1, 4).Int("dim", 0, 3).Views(2).Where(c => c["dim"] <= c["rank"]),
            c =>
            {
                var g = c.Generator();
                var (a, va) = Inputs.Make(Shape(c), c.View(0), g);
                var (b, vb) = Inputs.Make(Shape(c), c.View(1), g);
                return GradCheck.Check(t => Tensor.Stack([va(t[0]), vb(t[1]), va(t[0]) * 2.0], c["dim"]), [a, b]);
            });

    [Test]
    public void Split_AndChunk_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(Spec(1).Int("split", 1, 3), c =>
        {
            var (x, vx) = Inputs.Make(Shape(c), c.View(0), c.Generator());
            return GradCheck.Check(t =>
            {
                var pieces = vx(t[0]).Split(c["split"], c["dim"]);
                var chunks = vx(t[0]).Chunk(c["split"], c["dim"]);
                var scaled = pieces.Select((p, i) => p * (i + 1.0)).Concat(chunks.Select((p, i) => p.Square() * (i + 0.5)));
                return Tensor.Cat(scaled.ToArray(), c["dim"]);
            }, [x]);
        });

    [Test]
    public void IndexSelect_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(Spec(1).Int("n", 0, 5), c =>
        {
            var g = c.Generator();
            var shape = Shape(c);
            var (x, vx) = Inputs.Make(shape, c.View(0), g);
            var index = RandomIndex(g, [c["n"]], shape[c["dim"]]);
            return GradCheck.Check(t => vx(t[0]).IndexSelect(c["dim"], index), [x]);
        });

    [Test]
    public void Gather_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(Spec(1), c =>
        {
            var g = c.Generator();
            var shape = Shape(c);
            var (x, vx) = Inputs.Make(shape, c.View(0), g);
            var index = RandomIndex(g, Within(g, shape, c["dim"]), shape[c["dim"]]);
            return GradCheck.Check(t => vx(t[0]).Gather(c["dim"], index), [x]);
        });

    [Test]
    public void ScatterAdd_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(Spec(2), c =>
        {
            var g = c.Generator();
            var shape = Shape(c);
            var (x, vx) = Inputs.Make(shape, c.View(0), g);
            var indexShape = Within(g, shape, c["dim"]);
            var srcShape = indexShape.Select(s => s + g.NextInt(2)).ToArray();
            var (src, vs) = Inputs.Make(srcShape, c.View(1), g);
            var index = RandomIndex(g, indexShape, shape[c["dim"]]);
            return GradCheck.Check(t => vx(t[0]).ScatterAdd(c["dim"], index, vs(t[1])), [x, src]);
        });

    [Test]
    public void Indexer_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec().Int("d0", 2, 3).Int("d1", 2, 3).Int("d2", 2, 4).Int("pattern", 0, 5).Views(1),
            c =>
            {
                var (x, vx) = Inputs.Make([c["d0"], c["d1"], c["d2"]], c.View(0), c.Generator());
                Func<Tensor<double>, Tensor<double>> index = c["pattern"] switch
                {
                    0 => t => t[.., 1..],
                    1 => t => t[0, ..],
                    2 => t => t[^1, .., 1],
                    3 => t => t[TensorIndex.Ellipsis, TensorIndex.Slice(0, null, 2)],
                    4 => t => t[1, TensorIndex.NewAxis, ..^1],
                    _ => t => t[.., 0, 1..2],
                };
                return GradCheck.Check(t => index(vx(t[0])), [x]);
            });

    [Test]
    public void Indexer_ReturnsViewsWithPyTorchShapes()
    {
        var x = Tensor.Arange(24.0).Reshape(2, 3, 4);
        Assert.That(x[0].Shape, Is.EqualTo(new[] { 3, 4 }));
        Assert.That(x[.., 1..3].Shape, Is.EqualTo(new[] { 2, 2, 4 }));
        Assert.That(x[.., 1..3].Storage, Is.SameAs(x.Storage));
        Assert.That(x[1, 2, 3].Rank, Is.EqualTo(0));
        Assert.That((double)x[1, 2, 3], Is.EqualTo(23.0));
        Assert.That(x[1, 2, 3].Item(), Is.EqualTo(x.At(1, 2, 3)));
        Assert.That(x[^1, ^1].ToArray(), Is.EqualTo(new[] { 20.0, 21, 22, 23 }));
        Assert.That(x[-1, -1].ToArray(), Is.EqualTo(x[^1, ^1].ToArray()), "negative ints count from the end, as Python");
        Assert.That(x[TensorIndex.Ellipsis, 0].ToArray(), Is.EqualTo(new[] { 0.0, 4, 8, 12, 16, 20 }));
        Assert.That(x[0, 0, TensorIndex.Slice(1, null, 2)].ToArray(), Is.EqualTo(new[] { 1.0, 3 }));
        Assert.That(x[TensorIndex.NewAxis].Shape, Is.EqualTo(new[] { 1, 2, 3, 4 }));
        Assert.That(x[0, TensorIndex.NewAxis, .., 0].Shape, Is.EqualTo(new[] { 1, 3 }));
        Assert.That(x[.., 5..].Shape, Is.EqualTo(new[] { 2, 0, 4 }), "out-of-range bounds clamp, as Python");
        Assert.That(x[..].Storage, Is.SameAs(x.Storage));
        Assert.That(x.At(-1, -1, -1), Is.EqualTo(23.0));
    }

    [Test]
    public void Indexer_BadIndices_NameTheShape()
    {
        var x = Tensor.Zeros<float>(2, 3);
        var ex = Assert.Throws<ArgumentException>(() => _ = x[2]);
        Assert.That(ex!.Message, Does.Contain("Index").And.Contain("[2, 3]").And.Contain("2"));
        ex = Assert.Throws<ArgumentException>(() => _ = x[0, 0, 0]);
        Assert.That(ex!.Message, Does.Contain("3 indices").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => _ = x[TensorIndex.Ellipsis, TensorIndex.Ellipsis]);
        Assert.That(ex!.Message, Does.Contain("Ellipsis"));
        ex = Assert.Throws<ArgumentException>(() => _ = x[.., ^4]);
        Assert.That(ex!.Message, Does.Contain("dimension 1 of size 3"));
        ex = Assert.Throws<ArgumentException>(() => x.At(0, 3));
        Assert.That(ex!.Message, Does.Contain("At").And.Contain("[2, 3]"));
    }

    [Test]
    public void JoinAndIndex_ForwardValues()
    {
        var a = Tensor.FromArray(new[] { 1.0, 2, 3, 4, 5, 6 }, [2, 3]);
        var b = Tensor.FromArray(new[] { 7.0, 8, 9 }, [1, 3]);
        Assert.That(Tensor.Cat([a, b]).ToArray(), Is.EqualTo(new[] { 1.0, 2, 3, 4, 5, 6, 7, 8, 9 }));
        Assert.That(Tensor.Cat([a, a.Transpose(0, 1).Transpose(0, 1)], 1).ToArray(), Is.EqualTo(new[] { 1.0, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6 }));
        Assert.That(Tensor.Stack([a, a], 2).Shape, Is.EqualTo(new[] { 2, 3, 2 }));
        Assert.That(Tensor.Stack([a, a * 2.0], 1).ToArray(), Is.EqualTo(new[] { 1.0, 2, 3, 2, 4, 6, 4, 5, 6, 8, 10, 12 }));
        Assert.That(a.Split(2, 1).Select(p => p.Shape[1]), Is.EqualTo(new[] { 2, 1 }));
        Assert.That(a.Split([1, 2], 1)[1].ToArray(), Is.EqualTo(new[] { 2.0, 3, 5, 6 }));
        Assert.That(Tensor.Zeros<double>(5).Chunk(3).Select(p => p.Numel), Is.EqualTo(new[] { 2, 2, 1 }));
        Assert.That(Tensor.Zeros<double>(6).Chunk(4).Select(p => p.Numel), Is.EqualTo(new[] { 2, 2, 2 }), "fewer chunks, as PyTorch");
        Assert.That(a.IndexSelect(1, [2, 0, 2]).ToArray(), Is.EqualTo(new[] { 3.0, 1, 3, 6, 4, 6 }));
        var index = IndexTensor.FromArray(new long[] { 0, 0, 1, 0 }, [2, 2]);
        Assert.That(a.Gather(1, IndexTensor.FromArray(new long[] { 2, 0, 1, 1 }, [2, 2])).ToArray(), Is.EqualTo(new[] { 3.0, 1, 5, 5 }));
        // out[index[p]][p1] += a[p] for p in the [2, 2] index: (0,0)→[0][0] 1, (0,1)→[0][1] 2, (1,0)→[1][0] 4, (1,1)→[0][1] 5.
        Assert.That(Tensor.Zeros<double>(2, 3).ScatterAdd(0, index, a).ToArray(), Is.EqualTo(new[] { 1.0, 7, 0, 4, 0, 0 }));
    }

    [Test]
    public void Gather_AndScatterAdd_RepeatedIndicesAccumulate()
    {
        var x = Tensor.FromArray(new[] { 1.0, 2, 3 }, [3], requiresGrad: true);
        var index = IndexTensor.FromArray(new long[] { 2, 2, 0, 2 });
        x.Gather(0, index).Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 1.0, 0, 3 }));
        x.Grad = null;
        x.IndexSelect(0, [1, 1]).Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 0.0, 2, 0 }));
        var y = Tensor.Zeros<double>(3).ScatterAdd(0, index, Tensor.FromArray(new[] { 1.0, 10, 100, 1000 }));
        Assert.That(y.ToArray(), Is.EqualTo(new[] { 100.0, 0, 1011 }));
    }

    [Test]
    public void BadShapesAndIndices_NameOpArgumentAndShapes()
    {
        var a = Tensor.Zeros<float>(2, 3);
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Cat([a, Tensor.Zeros<float>(2, 4)]));
        Assert.That(ex!.Message, Does.Contain("Cat").And.Contain("[2, 4]").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Cat([a, Tensor.Zeros<float>(6)]));
        Assert.That(ex!.Message, Does.Contain("Cat").And.Contain("[6]"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Cat(Array.Empty<Tensor<float>>()));
        Assert.That(ex!.Message, Does.Contain("Cat"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Cat([a, a], 2));
        Assert.That(ex!.Message, Does.Contain("Cat").And.Contain("dim 2"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Stack([a, a.Transpose(0, 1)]));
        Assert.That(ex!.Message, Does.Contain("Stack").And.Contain("[3, 2]").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => a.Split([1, 1], 1));
        Assert.That(ex!.Message, Does.Contain("Split").And.Contain("[1, 1]").And.Contain("3"));
        ex = Assert.Throws<ArgumentException>(() => a.Split(0));
        Assert.That(ex!.Message, Does.Contain("Split").And.Contain("splitSize"));
        ex = Assert.Throws<ArgumentException>(() => a.Chunk(0));
        Assert.That(ex!.Message, Does.Contain("Chunk"));
        ex = Assert.Throws<ArgumentException>(() => a.IndexSelect(1, [0, 3]));
        Assert.That(ex!.Message, Does.Contain("IndexSelect").And.Contain("index 3").And.Contain("[2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => a.IndexSelect(0, [-1]));
        Assert.That(ex!.Message, Does.Contain("IndexSelect").And.Contain("index -1"));
        ex = Assert.Throws<ArgumentException>(() => a.Gather(1, IndexTensor.FromArray(new long[] { 0, 5 }, [1, 2])));
        Assert.That(ex!.Message, Does.Contain("Gather").And.Contain("index 5").And.Contain("[2, 3]").And.Contain("[1, 2]"));
        ex = Assert.Throws<ArgumentException>(() => a.Gather(1, IndexTensor.FromArray(new long[] { 0, 1, 2 }, [3, 1])));
        Assert.That(ex!.Message, Does.Contain("Gather").And.Contain("[3, 1]"));
        ex = Assert.Throws<ArgumentException>(() => a.Gather(0, IndexTensor.FromArray(new long[] { 0 })));
        Assert.That(ex!.Message, Does.Contain("Gather").And.Contain("number of dimensions"));
        ex = Assert.Throws<ArgumentException>(() => a.ScatterAdd(0, IndexTensor.FromArray(new long[] { 0, 1 }, [1, 2]), Tensor.Zeros<float>(1, 1)));
        Assert.That(ex!.Message, Does.Contain("ScatterAdd").And.Contain("src [1, 1]"));
        ex = Assert.Throws<ArgumentException>(() => a.ScatterAdd(0, IndexTensor.FromArray(new long[] { 2 }, [1, 1]), Tensor.Zeros<float>(1, 1)));
        Assert.That(ex!.Message, Does.Contain("ScatterAdd").And.Contain("index 2").And.Contain("size 2"));
        ex = Assert.Throws<ArgumentException>(() => IndexTensor.FromArray(new long[] { 1, 2 }, [3]));
        Assert.That(ex!.Message, Does.Contain("IndexTensor").And.Contain("[3]"));
    }
}
