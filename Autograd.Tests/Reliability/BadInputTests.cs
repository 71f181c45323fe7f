using Autograd;
using Autograd.Testing;
using FsCheck;
using FsCheck.Fluent;

namespace Autograd.Tests.Reliability;

/// <summary>
/// The catalogue of bad input: for every public op family, hand-written and FsCheck-generated invalid
/// calls. Each must throw <see cref="ArgumentException"/> (or a subclass) whose message starts with the
/// op's name and shows the shapes involved, whose ParamName names the argument, within a time limit,
/// and must leave every input unchanged (values, storage version, RequiresGrad, Grad).
/// </summary>
public class BadInputTests
{
    /// <summary>Generated calls per family (the table adds its own).</summary>
    private const int Generated = 100;

    private static readonly TimeSpan s_timeLimit = TimeSpan.FromSeconds(10);

    // ---- Families ----

    [Test]
    public void Elementwise_InvalidCalls_AreRejected()
    {
        var x23 = Rand(2, 3);
        RunFamily(
            "elementwise",
            [
                Call("Add", [x23, Rand(3, 2)], xs => xs[0].Add(xs[1])),
                Call("Sub", [x23, Rand(2)], xs => xs[0] - xs[1]),
                Call("Mul", [Rand(0), Rand(2)], xs => xs[0] * xs[1]),
                Call("Div", [Rand(4, 2, 3), Rand(3, 3)], xs => xs[0] / xs[1]),
                Call("Add", [Rand(2, 3).Transpose(0, 1), x23], xs => xs[0] + xs[1]),
            ],
            from a in ShapeGen(1, 4, 0, 4)
            from i in Gen.Choose(0, a.Length - 1)
            from extra in Gen.Choose(1, 3)
            from lead in Gen.Choose(0, 1)
            from op in Gen.Elements("Add", "Sub", "Mul", "Div")
            let left = a[i] < 2 ? a.With(i, 2) : a
            let right = (lead == 1 ? [1, .. left] : left).With(i + lead, left[i] + extra)
            select Call(op, [Rand(left), Rand(right)], xs => op switch
            {
                "Add" => xs[0] + xs[1],
                "Sub" => xs[0] - xs[1],
                "Mul" => xs[0] * xs[1],
                _ => xs[0] / xs[1],
            }));
    }

    [Test]
    public void Reductions_InvalidCalls_AreRejected()
    {
        RunFamily(
            "reductions",
            [
                Call("Sum", [Rand(2, 3)], xs => xs[0].Sum(2)),
                Call("Sum", [Rand(2, 3)], xs => xs[0].Sum([0, -2])),
                Call("Mean", [Rand(2, 3)], xs => xs[0].Mean(-3)),
                Call("Max", [Rand(2, 0)], xs => xs[0].Max(1)),
                Call("Max", [Rand(0)], xs => xs[0].Max()),
                Call("Max", [Rand()], xs => xs[0].Max(1)),
                Call("LogSoftmax", [Rand(2, 3)], xs => xs[0].LogSoftmax(2)),
                Call("LogSoftmax", [Rand()], xs => xs[0].LogSoftmax(1)),
            ],
            from shape in ShapeGen(0, 4, 1, 4)
            from op in Gen.Elements("Sum", "Mean", "Max", "LogSoftmax")
            from kind in Gen.Choose(0, 2)
            from offset in Gen.Choose(0, 1000)
            let rank = shape.Length
            let outOfRange = kind == 0 ? Math.Max(rank, 1) + offset : -Math.Max(rank, 1) - 1 - offset
            select kind < 2 || rank == 0 || op == "LogSoftmax"
                ? Call(op, [Rand(shape)], xs => op switch
                {
                    "Sum" => xs[0].Sum(outOfRange, keepDim: offset % 2 == 0),
                    "Mean" => xs[0].Mean(outOfRange),
                    "Max" => xs[0].Max(outOfRange),
                    _ => xs[0].LogSoftmax(outOfRange),
                })
                : Call(op, [Rand(shape)], xs => op switch
                {
                    // The same dimension twice (once negative).
                    "Sum" => xs[0].Sum([offset % rank, offset % rank - rank]),
                    "Mean" => xs[0].Mean([offset % rank, offset % rank]),
                    _ => xs[0].Max([offset % rank - rank, offset % rank]),
                }));
    }

    [Test]
    public void Views_InvalidCalls_AreRejected()
    {
        var x = Rand(2, 3, 4);
        RunFamily(
            "views",
            [
                Call("Reshape", [x], xs => xs[0].Reshape(5, 5)),
                Call("Reshape", [x], xs => xs[0].Reshape(-1, -1)),
                Call("Reshape", [x], xs => xs[0].Reshape(-2, 12)),
                Call("Reshape", [x], xs => xs[0].Reshape(65536, 65536)),
                Call("View", [x.Transpose(0, 2)], xs => xs[0].View(24)),
                Call("Transpose", [x], xs => xs[0].Transpose(0, 3)),
                Call("Permute", [x], xs => xs[0].Permute(0, 1)),
                Call("Permute", [x], xs => xs[0].Permute(0, 0, 1)),
                Call("Slice", [x], xs => xs[0].Slice(0, 0, 2, 0)),
                Call("Slice", [x], xs => xs[0].Slice(1, 0, 2, -1)),
                Call("Narrow", [x], xs => xs[0].Narrow(1, 2, 2)),
                Call("Narrow", [x], xs => xs[0].Narrow(1, 1, int.MaxValue)),
                Call("Narrow", [Rand()], xs => xs[0].Narrow(0, 0, 1)),
                Call("Select", [x], xs => xs[0].Select(2, 4)),
                Call("Select", [x], xs => xs[0].Select(2, int.MinValue)),
                Call("Expand", [x], xs => xs[0].Expand(3, 4)),
                Call("Expand", [x], xs => xs[0].Expand(2, 5, 4)),
                Call("Expand", [x], xs => xs[0].Expand(-1, 2, 3, 4)),
                Call("Expand", [Rand(1, 3)], xs => xs[0].Expand(-2, 3)),
                Call("Unsqueeze", [x], xs => xs[0].Unsqueeze(4)),
                Call("Squeeze", [x], xs => xs[0].Squeeze(3)),
                Call("Flatten", [x], xs => xs[0].Flatten(2, 1)),
                Call("AsStrided", [x], xs => xs[0].AsStrided([5, 5], [5, 1])),
                Call("AsStrided", [x], xs => xs[0].AsStrided([2], [-1], 1)),
                Call("AsStrided", [x], xs => xs[0].AsStrided([2, 2], [int.MaxValue, 1])),
                Call("AsStrided", [x], xs => xs[0].AsStrided([2], [1], -1)),
            ],
            from shape in ShapeGen(1, 4, 1, 4)
            from kind in Gen.Choose(0, 7)
            from r in Gen.Choose(0, 1000)
            let rank = shape.Length
            let d = r % rank
            select kind switch
            {
                0 => Call("Reshape", [Rand(shape)], xs => xs[0].Reshape(xs[0].Numel + 1 + (r % 5))),
                1 => Call("Transpose", [Rand(shape)], xs => xs[0].Transpose(d, rank + (r % 3))),
                2 => Call("Permute", [Rand(shape)], xs => xs[0].Permute(rank >= 2 && r % 2 == 0 ? new int[rank] : [.. Enumerable.Range(0, rank + 1)])),
                3 => Call("Slice", [Rand(shape)], xs => xs[0].Slice(d, 0, shape[d], -(r % 3))),
                4 => Call("Narrow", [Rand(shape)], xs => xs[0].Narrow(d, r % (shape[d] + 1), shape[d] + 1 - (r % (shape[d] + 1)))),
                5 => Call("Select", [Rand(shape)], xs => xs[0].Select(d, r % 2 == 0 ? shape[d] + (r % 3) : -shape[d] - 1 - (r % 3))),
                6 => Call("Expand", [Rand(shape.With(d, 2))], xs => xs[0].Expand(shape.With(d, 3 + (r % 3)))),
                _ => Call("Unsqueeze", [Rand(shape)], xs => xs[0].Unsqueeze(r % 2 == 0 ? rank + 1 + (r % 3) : -rank - 2 - (r % 3))),
            });
    }

    [Test]
    public void MatMul_InvalidCalls_AreRejected()
    {
        RunFamily(
            "matmul",
            [
                Call("MatMul", [Rand(2, 3), Rand(4, 2)], xs => xs[0].MatMul(xs[1])),
                Call("MatMul", [Rand(), Rand(3)], xs => xs[0].MatMul(xs[1])),
                Call("MatMul", [Rand(3), Rand()], xs => xs[0].MatMul(xs[1])),
                Call("MatMul", [Rand(3), Rand(4)], xs => xs[0].MatMul(xs[1])),
                Call("MatMul", [Rand(2, 2, 3), Rand(3, 3, 4)], xs => xs[0].MatMul(xs[1])),
                Call("MatMul", [Rand(0, 3), Rand(2, 4)], xs => xs[0].MatMul(xs[1])),
            ],
            from m in Gen.Choose(0, 4)
            from k in Gen.Choose(1, 4)
            from n in Gen.Choose(1, 4)
            from extra in Gen.Choose(1, 3)
            from batch in Gen.Choose(0, 2)
            from kind in Gen.Choose(0, 1)
            let aBatch = batch == 0 ? new int[0] : [2 + extra]
            let bBatch = batch == 0 ? new int[0] : batch == 1 ? [2 + extra] : [3 + extra]
            select kind == 0 || batch != 2
                ? Call("MatMul", [Rand([.. aBatch, m, k]), Rand([.. bBatch, k + extra, n])], xs => xs[0].MatMul(xs[1]))
                : Call("MatMul", [Rand([.. aBatch, m, k]), Rand([.. bBatch, k, n])], xs => xs[0].MatMul(xs[1])));
    }

    [Test]
    public void Conv2d_InvalidCalls_AreRejected()
    {
        var x = Rand(2, 4, 6, 6);
        var w = Rand(6, 2, 3, 3);
        RunFamily(
            "conv2d",
            [
                Call("Conv2d", [Rand(4, 6, 6, 1, 1), w], xs => xs[0].Conv2d(xs[1])),
                Call("Conv2d", [Rand(6, 6), w], xs => xs[0].Conv2d(xs[1])),
                Call("Conv2d", [x, Rand(6, 4, 3)], xs => xs[0].Conv2d(xs[1])),
                Call("Conv2d", [x, w], xs => xs[0].Conv2d(xs[1], groups: 3)),
                Call("Conv2d", [x, w], xs => xs[0].Conv2d(xs[1], groups: 0)),
                Call("Conv2d", [x, w], xs => xs[0].Conv2d(xs[1], groups: -2)),
                Call("Conv2d", [x, w], xs => xs[0].Conv2d(xs[1])),
                Call("Conv2d", [x, Rand(6, 4, 7, 3)], xs => xs[0].Conv2d(xs[1])),
                Call("Conv2d", [x, Rand(6, 4, 3, 3)], xs => xs[0].Conv2d(xs[1], stride: 0)),
                Call("Conv2d", [x, Rand(6, 4, 3, 3)], xs => xs[0].Conv2d(xs[1], stride: (1, -1))),
                Call("Conv2d", [x, Rand(6, 4, 3, 3)], xs => xs[0].Conv2d(xs[1], dilation: 0)),
                Call("Conv2d", [x, Rand(6, 4, 3, 3)], xs => xs[0].Conv2d(xs[1], padding: -1)),
                Call("Conv2d", [x, Rand(6, 4, 3, 3)], xs => xs[0].Conv2d(xs[1], padding: "same", stride: 2)),
                Call("Conv2d", [x, Rand(6, 4, 3, 3)], xs => xs[0].Conv2d(xs[1], dilation: int.MaxValue)),
                Call("Conv2d", [x, Rand(6, 4, 3, 3)], xs => xs[0].Conv2d(xs[1], padding: int.MaxValue)),
                Call("Conv2d", [x, Rand(6, 4, 3, 3)], xs => xs[0].Conv2d(xs[1], padding: 30000)),
                Call("Conv2d", [x, Rand(6, 4, 3, 3)], xs => xs[0].Conv2d(xs[1], padding: "same", dilation: int.MaxValue)),
                Call("Conv2d", [x, Rand(6, 4, 3, 3)], xs => xs[0].Conv2d(xs[1], padding: "full")),
                Call("Conv2d", [x, Rand(6, 4, 3, 3), Rand(5)], xs => xs[0].Conv2d(xs[1], xs[2])),
                Call("Conv2d", [x, Rand(6, 4, 3, 3), Rand(6, 1)], xs => xs[0].Conv2d(xs[1], xs[2])),
                Call("Conv2d", [Rand(2, 0, 6, 6), Rand(6, 0, 3, 3)], xs => xs[0].Conv2d(xs[1])),
                Call("Conv2d", [Rand(2, 4, 0, 6), Rand(6, 4, 1, 1)], xs => xs[0].Conv2d(xs[1])),
                Call("Conv2d", [x, Rand(6, 4, 0, 3)], xs => xs[0].Conv2d(xs[1])),
                Call("Conv2d", [x, Rand(0, 4, 3, 3)], xs => xs[0].Conv2d(xs[1])),
            ],
            from n in Gen.Choose(1, 2)
            from groups in Gen.Choose(1, 3)
            from cg in Gen.Choose(1, 2)
            from fg in Gen.Choose(1, 2)
            from size in Gen.Choose(1, 6)
            from kernel in Gen.Choose(1, 4)
            from kind in Gen.Choose(0, 7)
            from r in Gen.Choose(0, 1000)
            let c = groups * cg
            let f = groups * fg
            let input = new[] { n, c, size, size }
            let weight = new[] { f, cg, kernel, kernel }
            select kind switch
            {
                // Channels that the weight does not expect.
                0 => Call("Conv2d", [Rand(input.With(1, c + 1 + (r % 2))), Rand(weight)], xs => xs[0].Conv2d(xs[1], padding: kernel / 2, groups: groups)),

                // Groups that do not divide the channels (or the filters).
                1 => Call("Conv2d", [Rand(input), Rand(weight)], xs => xs[0].Conv2d(xs[1], padding: kernel / 2, groups: groups * (2 + (r % 2)) + 1)),

                // A kernel larger than the padded input.
                2 => Call("Conv2d", [Rand(input), Rand(weight.With(2, size + 1 + (r % 3)))], xs => xs[0].Conv2d(xs[1], groups: groups)),

                // Zero or negative stride.
                3 => Call("Conv2d", [Rand(input), Rand(weight)], xs => xs[0].Conv2d(xs[1], stride: (1, -(r % 3)), padding: kernel / 2, groups: groups)),

                // Zero or negative dilation.
                4 => Call("Conv2d", [Rand(input), Rand(weight)], xs => xs[0].Conv2d(xs[1], dilation: (-(r % 3), 1), padding: kernel / 2, groups: groups)),

                // Negative padding.
                5 => Call("Conv2d", [Rand(input), Rand(weight)], xs => xs[0].Conv2d(xs[1], padding: (1 + (r % 2), -1 - (r % 3)), groups: groups)),

                // A bias of the wrong length.
                6 => Call("Conv2d", [Rand(input), Rand(weight), Rand(f + 1 + (r % 2))], xs => xs[0].Conv2d(xs[1], xs[2], padding: kernel / 2, groups: groups)),

                // Sizes whose arithmetic overflows int.
                _ => Call("Conv2d", [Rand(input), Rand(weight.With(2, Math.Max(2, kernel)))], xs => xs[0].Conv2d(xs[1], dilation: int.MaxValue - r, padding: r % 2 == 0 ? int.MaxValue / 2 : 0, groups: groups)),
            });
    }

    [Test]
    public void MaxPool2d_InvalidCalls_AreRejected()
    {
        var x = Rand(2, 3, 6, 6);
        RunFamily(
            "maxpool2d",
            [
                Call("MaxPool2d", [Rand(6, 6)], xs => xs[0].MaxPool2d(2)),
                Call("MaxPool2d", [Rand(1, 2, 3, 6, 6)], xs => xs[0].MaxPool2d(2)),
                Call("MaxPool2d", [x], xs => xs[0].MaxPool2d(0)),
                Call("MaxPool2d", [x], xs => xs[0].MaxPool2d(2, stride: 0)),
                Call("MaxPool2d", [x], xs => xs[0].MaxPool2d(2, dilation: (1, -1))),
                Call("MaxPool2d", [x], xs => xs[0].MaxPool2d(2, padding: -1)),
                Call("MaxPool2d", [x], xs => xs[0].MaxPool2d(2, padding: 2)),
                Call("MaxPool2d", [x], xs => xs[0].MaxPool2d(7)),
                Call("MaxPool2d", [x], xs => xs[0].MaxPool2d(int.MaxValue)),
                Call("MaxPool2d", [x], xs => xs[0].MaxPool2d(3, dilation: int.MaxValue)),
                Call("MaxPool2d", [x], xs => xs[0].MaxPool2d((int.MaxValue, 3), dilation: 2)),
                Call("MaxPool2d", [x], xs => xs[0].MaxPool2d(int.MaxValue, padding: int.MaxValue / 2 + 1)),
                Call("MaxPool2d", [Rand(2, 0, 6, 6)], xs => xs[0].MaxPool2d(2)),
                Call("MaxPool2d", [Rand(2, 3, 0, 6)], xs => xs[0].MaxPool2d(2)),
            ],
            from n in Gen.Choose(1, 2)
            from c in Gen.Choose(1, 3)
            from size in Gen.Choose(1, 6)
            from kernel in Gen.Choose(1, 4)
            from kind in Gen.Choose(0, 5)
            from r in Gen.Choose(0, 1000)
            let input = new[] { n, c, size, size }
            select kind switch
            {
                0 => Call("MaxPool2d", [Rand(input)], xs => xs[0].MaxPool2d((kernel, -(r % 3)))),
                1 => Call("MaxPool2d", [Rand(input)], xs => xs[0].MaxPool2d(kernel, stride: -(r % 3))),
                2 => Call("MaxPool2d", [Rand(input)], xs => xs[0].MaxPool2d(kernel, dilation: (1, -(r % 3)))),
                3 => Call("MaxPool2d", [Rand(input)], xs => xs[0].MaxPool2d(kernel, padding: r % 2 == 0 ? -1 - (r % 3) : kernel / 2 + 1 + (r % 3))),
                4 => Call("MaxPool2d", [Rand(input)], xs => xs[0].MaxPool2d(size + 1 + (r % 3))),
                _ => Call("MaxPool2d", [Rand(input.With(1 + (r % 3), 0))], xs => xs[0].MaxPool2d(kernel)),
            });
    }

    [Test]
    public void Losses_InvalidCalls_AreRejected()
    {
        RunFamily(
            "losses",
            [
                Call("CrossEntropy", [Rand(2, 3)], xs => xs[0].CrossEntropy([0, 3])),
                Call("CrossEntropy", [Rand(2, 3)], xs => xs[0].CrossEntropy([-1, 0])),
                Call("CrossEntropy", [Rand(2, 3)], xs => xs[0].CrossEntropy([0])),
                Call("CrossEntropy", [Rand(3)], xs => xs[0].CrossEntropy([0, 1])),   // unbatched [C] takes one target
                Call("CrossEntropy", [Rand(0, 3)], xs => xs[0].CrossEntropy([1])),   // an empty batch takes no target
                Call("CrossEntropy", [Rand(2, 0)], xs => xs[0].CrossEntropy([0, 0])),
                Call("NllLoss", [Rand(2, 3)], xs => xs[0].NllLoss([int.MaxValue, 0])),
                Call("NllLoss", [Rand(2, 3)], xs => xs[0].NllLoss([int.MinValue, 0])),
                Call("NllLoss", [Rand(2, 3, 4)], xs => xs[0].NllLoss([0, 0])),
                Call("NllLoss", [Rand(2, 3)], xs => xs[0].NllLoss([0, 1, 2])),
            ],
            from n in Gen.Choose(1, 4)
            from classes in Gen.Choose(1, 4)
            from kind in Gen.Choose(0, 2)
            from at in Gen.Choose(0, 3)
            from r in Gen.Choose(0, 1000)
            from op in Gen.Elements("CrossEntropy", "NllLoss")
            let targets = Enumerable.Range(0, n).Select(i => i % classes).ToArray()
            let bad = kind switch
            {
                0 => targets.With(at % n, classes + (r % 3)),
                1 => targets.With(at % n, -1 - (r % 3)),
                _ => [.. targets, .. Enumerable.Repeat(0, 1 + (r % 2))],
            }
            select Call(op, [Rand(n, classes)], xs => op == "CrossEntropy" ? xs[0].CrossEntropy(bad) : xs[0].NllLoss(bad)));
    }

    [Test]
    public void InPlace_InvalidCalls_AreRejected()
    {
        RunFamily(
            "in-place",
            [
                Call("AddInPlace", [Rand(2, 3), Rand(3, 3)], xs => xs[0].AddInPlace(xs[1])),
                Call("SubInPlace", [Rand(2, 3), Rand(2, 2, 3)], xs => xs[0].SubInPlace(xs[1])),
                Call("MulInPlace", [Rand(1, 3).Expand(2, 3), Rand(2, 3)], xs => xs[0].MulInPlace(xs[1])),
                Call("DivInPlace", [Rand(2, 3), Rand(2)], xs => xs[0].DivInPlace(xs[1])),
                Call("AddcmulInPlace", [Rand(2, 3), Rand(2, 3), Rand(3, 3)], xs => xs[0].AddcmulInPlace(xs[1], xs[2], 0.5f)),
                Call("AddcdivInPlace", [Rand(2, 3), Rand(4), Rand(2, 3)], xs => xs[0].AddcdivInPlace(xs[1], xs[2], 0.5f)),
                Call("LerpInPlace", [Rand(2, 3), Rand(2, 4)], xs => xs[0].LerpInPlace(xs[1], 0.5f)),
                Call("CopyFrom", [Rand(2, 3), Rand(6)], xs => xs[0].CopyFrom(xs[1])),
                Call("Fill", [Rand(3).Expand(2, 3)], xs => xs[0].Fill(1f)),
                Call("Zero", [Rand(1).Expand(4)], xs => xs[0].Zero()),
            ],
            from target in ShapeGen(1, 3, 1, 3)
            from i in Gen.Choose(0, target.Length - 1)
            from extra in Gen.Choose(1, 3)
            from kind in Gen.Choose(0, 8)
            from lead in Gen.Choose(0, 1)
            let other = lead == 1 ? [2, .. target] : target.With(i, target[i] + extra)
            select kind switch
            {
                0 => Call("AddInPlace", [Rand(target), Rand(other)], xs => xs[0].AddInPlace(xs[1], 2f)),
                1 => Call("SubInPlace", [Rand(target), Rand(other)], xs => xs[0].SubInPlace(xs[1])),
                2 => Call("MulInPlace", [Rand(target), Rand(other)], xs => xs[0].MulInPlace(xs[1])),
                3 => Call("DivInPlace", [Rand(target), Rand(other)], xs => xs[0].DivInPlace(xs[1])),
                4 => Call("AddcmulInPlace", [Rand(target), Rand(target), Rand(other)], xs => xs[0].AddcmulInPlace(xs[1], xs[2], 0.1f)),
                5 => Call("AddcdivInPlace", [Rand(target), Rand(other), Rand(target)], xs => xs[0].AddcdivInPlace(xs[1], xs[2], 0.1f)),
                6 => Call("LerpInPlace", [Rand(target), Rand(other)], xs => xs[0].LerpInPlace(xs[1], 0.3f)),
                7 => Call("CopyFrom", [Rand(target), Rand(other)], xs => xs[0].CopyFrom(xs[1])),

                // An expanded target: one write would land in several elements.
                _ => Call("AddInPlace", [Rand(target.With(i, 1)).Expand(target.With(i, 1 + extra)), Rand(target.With(i, 1 + extra))], xs => xs[0].AddInPlace(xs[1])),
            });
    }

    [Test]
    public void Factories_InvalidCalls_AreRejected()
    {
        RunFamily(
            "factories",
            [
                Call("Zeros", [], _ => Tensor.Zeros<float>(2, -1)),
                Call("Ones", [], _ => Tensor.Ones<float>(65536, 65536)),
                Call("Full", [], _ => Tensor.Full<float>([-3], 1f)),
                Call("Randn", [], _ => Tensor.Randn<float>([1 << 16, 1 << 16, 2])),
                Call("Rand", [], _ => Tensor.Rand<float>([-1, 0])),
                Call("FromArray", [], _ => Tensor.FromArray(new float[5], [2, 3])),
                Call("FromArray", [], _ => Tensor.FromArray(new float[0], [-1])),
                Call("Arange", [], _ => Tensor.Arange(0f, 1f, 0f), shapes: false),
                Call("Arange", [], _ => Tensor.Arange(0f, float.PositiveInfinity, 1f), shapes: false),
                Call("Arange", [], _ => Tensor.Arange(0f, 1e12f, 1f), shapes: false),
                Call("Arange", [], _ => Tensor.Arange(float.NaN), shapes: false),
                Call("Arange", [], _ => Tensor.Arange(0f, 5f, -1f), shapes: false),
                Call("Arange", [], _ => Tensor.Arange(5f, 0f, 0.5f), shapes: false),
            ],
            from shape in ShapeGen(1, 4, 0, 4)
            from i in Gen.Choose(0, shape.Length - 1)
            from kind in Gen.Choose(0, 6)
            from r in Gen.Choose(1, 1000)
            let negative = shape.With(i, -r)
            let huge = (int[])[1 << 16, 1 << 16, .. shape.Select(s => s + 1)]
            select kind switch
            {
                0 => Call("Zeros", [], _ => Tensor.Zeros<float>(negative)),
                1 => Call("Ones", [], _ => Tensor.Ones<float>(huge)),
                2 => Call("Full", [], _ => Tensor.Full<float>(r % 2 == 0 ? negative : huge, 2f)),
                3 => Call("Randn", [], _ => Tensor.Randn<float>(r % 2 == 0 ? negative : huge, new Generator(1))),
                4 => Call("Rand", [], _ => Tensor.Rand<float>(r % 2 == 0 ? negative : huge, new Generator(1))),
                5 => Call("FromArray", [], _ => Tensor.FromArray(new float[Numel(shape) + (r % 2 == 0 || Numel(shape) == 0 ? 1 : -1)], shape)),
                _ => Call("Arange", [], _ => Tensor.Arange(0f, r, r % 2 == 0 ? 0f : float.NaN), shapes: false),
            });
    }

    // ---- Harness ----

    /// <summary>One invalid call: the op it must name, its tensor inputs (checked unchanged afterwards) and the call.</summary>
    private sealed record BadCall(string Op, Tensor<float>[] Inputs, Action<Tensor<float>[]> Invoke, bool Shapes, string Text)
    {
        public override string ToString() => Text;
    }

    private static BadCall Call(
        string op,
        Tensor<float>[] inputs,
        Func<Tensor<float>[], object> invoke,
        bool shapes = true,
        [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(invoke))] string text = "")
        => new(op, inputs, xs => invoke(xs), shapes, $"{text} with inputs {string.Join(", ", inputs.Select(x => ShapeMath.Format(x.Shape)))}");

    /// <summary>
    /// Runs the table and <see cref="Generated"/> FsCheck-generated calls, collects every call that is not
    /// rejected as it should be, and reports the count tried (docs/reliability.md quotes it).
    /// </summary>
    private static void RunFamily(string family, BadCall[] table, Gen<BadCall> generated)
    {
        BadCall[] calls = [.. table, .. generated.Sample(Generated, 10)];
        var failures = calls.Select(Failure).OfType<string>().ToArray();
        TestContext.Out.WriteLine($"{family}: {calls.Length} invalid calls ({table.Length} from the table, {calls.Length - table.Length} generated), {failures.Length} not rejected as they should be");
        Assert.That(failures, Is.Empty, () => string.Join("\n", failures.Distinct().Take(30)));
        Assert.That(calls, Has.Length.GreaterThanOrEqualTo(100));
    }

    /// <summary>Null when the call was rejected as it should be, else what went wrong.</summary>
    private static string? Failure(BadCall call)
    {
        var before = call.Inputs.Select(Snapshot).ToArray();
        Exception? thrown = null;
        var task = Task.Run(() =>
        {
            try
            {
                call.Invoke(call.Inputs);
            }
            catch (Exception e)
            {
                thrown = e;
            }
        });
        if (!task.Wait(s_timeLimit))
        {
            return $"{call}: still running after {s_timeLimit.TotalSeconds} s.";
        }

        if (thrown is not ArgumentException argument)
        {
            return thrown is null
                ? $"{call}: returned instead of throwing ArgumentException."
                : $"{call}: threw {thrown.GetType().Name} instead of ArgumentException: {thrown.Message}";
        }

        if (!argument.Message.StartsWith(call.Op + ":", StringComparison.Ordinal))
        {
            return $"{call}: the message does not start with '{call.Op}:': {argument.Message}";
        }

        if (string.IsNullOrEmpty(argument.ParamName))
        {
            return $"{call}: the exception does not name the argument: {argument.Message}";
        }

        var shapes = call.Inputs.Select(x => ShapeMath.Format(x.Shape)).ToArray();
        if (call.Shapes && !(shapes.Length == 0 ? argument.Message.Contains('[') : shapes.Any(argument.Message.Contains)))
        {
            return $"{call}: the message shows none of the shapes: {argument.Message}";
        }

        for (var i = 0; i < call.Inputs.Length; i++)
        {
            if (Snapshot(call.Inputs[i]) != before[i])
            {
                return $"{call}: input {i} changed.";
            }
        }

        return null;
    }

    /// <summary>What must not change: the values' bits, the storage version, RequiresGrad and the Grad reference.</summary>
    private static (string Bits, int Version, bool RequiresGrad, object? Grad) Snapshot(Tensor<float> x) => (
        string.Join(",", x.ToArray().Select(BitConverter.SingleToInt32Bits)),
        x.Storage.Version,
        x.RequiresGrad,
        x.Grad);

    private static Gen<int[]> ShapeGen(int minRank, int maxRank, int minDim, int maxDim) =>
        from rank in Gen.Choose(minRank, maxRank)
        from dims in Gen.ArrayOf(Gen.Choose(minDim, maxDim), rank)
        select dims;

    private static int Numel(int[] shape) => shape.Aggregate(1, (a, b) => a * b);

    private static Tensor<float> Rand(params int[] shape) => Tensor.Rand<float>(shape, new Generator(7));
}

/// <summary>Array helpers for the catalogue's generators.</summary>
internal static class BadInputArrays
{
    public static int[] With(this int[] array, int index, int value)
    {
        var copy = (int[])array.Clone();
        copy[index] = value;
        return copy;
    }
}
