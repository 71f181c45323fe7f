using System.Text;
using Autograd.Example;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Autograd.Nn.Tests;

/// <summary>
/// ONNX export checked by ONNX Runtime: each model is exported from one traced evaluation forward, loaded in an
/// <see cref="InferenceSession"/>, run on the sample and on a batch of another size (the symbolic batch), and
/// compared element by element with the engine's own evaluation forward (1e-5).
/// </summary>
public class OnnxExportTests
{
    private const float Tolerance = 1e-5f;
    private string _dir = "";

    [SetUp]
    public void CreateDirectory() => _dir = Directory.CreateTempSubdirectory("onnx-export-").FullName;

    [TearDown]
    public void DeleteDirectory() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void LeNet5_MatchesOnnxRuntime_AtTwoBatchSizes()
    {
        var gen = new Generator(seed: 1);
        var model = LeNet5.Create(gen);
        var path = Path.Combine(_dir, "lenet5.onnx");
        model.ExportOnnx(path, Tensor.Randn<float>([4, 1, 28, 28], gen));

        foreach (var batch in new[] { 4, 7 })
        {
            var x = Tensor.Randn<float>([batch, 1, 28, 28], gen);
            var diff = MaxAbsDiff(Engine(model, x), Run(path, x));
            TestContext.Out.WriteLine($"LeNet-5, batch {batch}: max |engine − ONNX Runtime| = {diff:E2}");
            Assert.That(diff, Is.LessThan(Tolerance));
        }

        var file = Encoding.ASCII.GetString(File.ReadAllBytes(path));
        Assert.That(file, Does.Contain("conv1.weight").And.Contain("fc3.bias"), "parameters are initialisers under their state-dict names");
    }

    [Test]
    public void MlpWithBatchNormAndDropout_ExportsItsEvaluationForward()
    {
        var gen = new Generator(seed: 2);
        var model = new BatchNormMlp(gen);
        using (Tensor.NoGrad())
        {
            for (var i = 0; i < 3; i++)
            {
                model.Forward(Tensor.Randn<float>([16, 8], gen) * 2f + 1f);   // training mode: running statistics move off 0 and 1
            }
        }

        var path = Path.Combine(_dir, "mlp.onnx");
        model.ExportOnnx(path, Tensor.Randn<float>([5, 8], gen));
        Assert.That(model.Training && model.Drop.Training && model.Norm.Training, Is.True, "ExportOnnx restores each module's training mode");

        foreach (var batch in new[] { 5, 2 })
        {
            var x = Tensor.Randn<float>([batch, 8], gen);
            var diff = MaxAbsDiff(Engine(model, x), Run(path, x));
            TestContext.Out.WriteLine($"MLP with BatchNorm and Dropout, batch {batch}: max |engine − ONNX Runtime| = {diff:E2}");
            Assert.That(diff, Is.LessThan(Tolerance));
        }
    }

    [TestCase(13, 2, 2, 16, 8)]
    [TestCase(65, 4, 4, 128, 64)]   // the GPT job's recipe: 804,096 parameters, T = block = 64
    public void CharGpt_MatchesOnnxRuntime_WithTokenIdsAndTiedWeights(int vocab, int layers, int heads, int embd, int t)
    {
        var gen = new Generator(seed: 3);
        var gpt = new CharGpt(new GptConfig(vocab, layers, heads, embd, t), gen);
        gpt.Eval();
        var path = Path.Combine(_dir, "gpt.onnx");
        Onnx.Export<float>(idx => gpt.Forward(idx), Tokens(2, t, vocab, gen), path, gpt.NamedParameters());

        foreach (var batch in new[] { 2, 3 })
        {
            var idx = Tokens(batch, t, vocab, gen);
            float[] expected;
            using (Tensor.NoGrad())
            {
                expected = gpt.Forward(idx).ToArray();
            }

            using var session = new InferenceSession(path);
            using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", new DenseTensor<long>(idx.ToArray(), idx.Shape))]);
            var diff = MaxAbsDiff(expected, results.First().AsEnumerable<float>().ToArray());
            TestContext.Out.WriteLine($"CharGpt ({layers} layers, {heads} heads, {embd} wide, T = {t}, vocab {vocab}), batch {batch}: max |engine − ONNX Runtime| = {diff:E2}");
            Assert.That(diff, Is.LessThan(Tolerance));
        }

        var file = Encoding.ASCII.GetString(File.ReadAllBytes(path));
        Assert.That(file, Does.Contain("wte.weight").And.Not.Contain("lm_head.weight"), "the tied head reads the embedding's one initialiser");
    }

    [Test]
    public void AnOpWithoutOnnxForm_IsRefusedByNameAndLine()
    {
        var w = Tensor.Randn<float>([4, 3], new Generator(seed: 4), requiresGrad: true);
        var path = Path.Combine(_dir, "refused.onnx");

        var reduction = Assert.Throws<NotSupportedException>(() => Onnx.Export<float>(x => x.MatMul(w).Sum(1), Tensor.Ones<float>(2, 4), path));
        Assert.That(reduction!.Message, Does.StartWith("ONNX export: 'Sum' at OnnxExportTests.cs:"));

        var slope = Assert.Throws<NotSupportedException>(() => Onnx.Export<float>(x => x.MatMul(w).LeakyRelu(0.1), Tensor.Ones<float>(2, 4), path));
        Assert.That(slope!.Message, Does.StartWith("ONNX export: 'LeakyRelu' at OnnxExportTests.cs:").And.Contain("scalar parameter"));

        var custom = Assert.Throws<NotSupportedException>(() => Onnx.Export<float>(
            x => Function.Apply("Twice", [x.MatMul(w)], xs => (xs[0] * 2f, (g, grads) => grads[0] = g * 2f)), Tensor.Ones<float>(2, 4), path));
        Assert.That(custom!.Message, Does.StartWith("ONNX export: 'Twice' at OnnxExportTests.cs:").And.Contain("custom op"));
        Assert.That(File.Exists(path), Is.False, "nothing is written when the export fails");
    }

    [Test]
    public void BatchNormInTrainingMode_IsRefused_AndArgumentsAreChecked()
    {
        var norm = new BatchNorm2d<float>(3);
        var path = Path.Combine(_dir, "bn.onnx");
        var ex = Assert.Throws<NotSupportedException>(() => Onnx.Export<float>(x => norm.Forward(x), Tensor.Ones<float>(2, 3, 2, 2), path));
        Assert.That(ex!.Message, Does.Contain("'BatchNorm2d'").And.Contain("training mode"));

        Assert.Throws<ArgumentException>(() => Onnx.Export<float>(x => x, Tensor.Scalar(1f), path));
        Assert.Throws<ArgumentException>(() => norm.ExportOnnx("", Tensor.Ones<float>(2, 3, 2, 2)));
    }

    private static IndexTensor Tokens(int batch, int t, int vocab, Generator gen) =>
        IndexTensor.FromArray(Enumerable.Range(0, batch * t).Select(_ => (long)gen.NextInt(vocab)).ToArray(), [batch, t]);

    private static float[] Engine(Module<float> model, Tensor<float> x)
    {
        var training = model.Training;
        model.Eval();
        try
        {
            using (Tensor.NoGrad())
            {
                return model.Forward(x).ToArray();
            }
        }
        finally
        {
            model.Train(training);
        }
    }

    private static float[] Run(string path, Tensor<float> x)
    {
        using var session = new InferenceSession(path);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", new DenseTensor<float>(x.ToArray(), x.Shape))]);
        return results.First().AsEnumerable<float>().ToArray();
    }

    private static float MaxAbsDiff(float[] a, float[] b)
    {
        Assert.That(b, Has.Length.EqualTo(a.Length));
        return a.Zip(b, (p, q) => Math.Abs(p - q)).DefaultIfEmpty(0).Max();
    }

    /// <summary>Linear, BatchNorm1d, ReLU, Dropout, Linear.</summary>
    private sealed class BatchNormMlp : Module<float>
    {
        public BatchNormMlp(Generator gen)
        {
            Fc1 = RegisterModule("fc1", new Linear<float>(8, 16, generator: gen));
            Norm = RegisterModule("bn", new BatchNorm1d<float>(16));
            Drop = RegisterModule("drop", new Dropout<float>(0.5, gen));
            Fc2 = RegisterModule("fc2", new Linear<float>(16, 3, generator: gen));
        }

        public Linear<float> Fc1 { get; }

        public BatchNorm1d<float> Norm { get; }

        public Dropout<float> Drop { get; }

        public Linear<float> Fc2 { get; }

        protected override Tensor<float> ForwardCore(Tensor<float> input)
        {
            var h = Fc1.Forward(input);
            h = Norm.Forward(h).Relu();
            return Fc2.Forward(Drop.Forward(h));
        }
    }
}
