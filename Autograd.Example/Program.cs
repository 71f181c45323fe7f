using System.Globalization;
using Autograd;

// A tiny CNN, define-by-run: conv → relu → max-pool → linear → cross-entropy, on a synthetic batch
// whose class is which quadrant of the image is brightest. One forward and backward pass with the
// gradients printed, then a few plain SGD steps to show the loss going down.
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var gen = new Generator(42);
const int batch = 16, classes = 4, side = 8;

var (x, targets) = MakeBatch(gen);
var conv = Tensor.Randn<float>([6, 1, 3, 3], gen) * 0.3f;
var convBias = Tensor.Zeros<float>(6);
var fc = Tensor.Randn<float>([6 * 4 * 4, classes], gen) * 0.05f;
var fcBias = Tensor.Zeros<float>(classes);
Tensor<float>[] parameters = [conv, convBias, fc, fcBias];
foreach (var p in parameters)
{
    p.RequiresGrad = true;
}

Tensor<float> Loss(Tensor<float>[] ps)
{
    var h = x.Conv2d(ps[0], ps[1], padding: 1).Relu().MaxPool2d(2);   // [16, 6, 4, 4]
    var logits = h.Flatten(1).MatMul(ps[2]) + ps[3];                  // [16, 4]
    return logits.CrossEntropy(targets);
}

var loss = Loss(parameters);
loss.Backward();
Console.WriteLine($"input {ShapeMath.Format(x.Shape)}, {parameters.Sum(p => p.Numel)} parameters, loss {loss.Item():F4}");
string[] names = ["conv.weight", "conv.bias", "fc.weight", "fc.bias"];
for (var i = 0; i < parameters.Length; i++)
{
    var g = parameters[i].Grad!;
    var norm = Math.Sqrt(g.ToArray().Sum(v => (double)v * v));
    Console.WriteLine($"  d loss / d {names[i],-11} shape {ShapeMath.Format(g.Shape),-14} |grad| {norm:F5}");
}

Console.WriteLine($"d loss / d conv.bias = {parameters[1].Grad}");

const float lr = 0.5f;
for (var step = 1; step <= 30; step++)
{
    // SGD with fresh leaves (modules and optimizers with in-place updates are later work).
    using (Tensor.NoGrad())
    {
        for (var i = 0; i < parameters.Length; i++)
        {
            parameters[i] = (parameters[i] - lr * parameters[i].Grad!).Detach();
            parameters[i].RequiresGrad = true;
        }
    }

    loss = Loss(parameters);
    loss.Backward();
    if (step % 10 == 0)
    {
        Console.WriteLine($"step {step,2}: loss {loss.Item():F4}");
    }
}

static (Tensor<float> X, int[] Targets) MakeBatch(Generator gen)
{
    var data = new float[batch * side * side];
    var targets = new int[batch];
    for (var n = 0; n < batch; n++)
    {
        targets[n] = gen.NextInt(classes);
        int qy = targets[n] / 2, qx = targets[n] % 2;
        for (var i = 0; i < side; i++)
        {
            for (var j = 0; j < side; j++)
            {
                var bright = i / (side / 2) == qy && j / (side / 2) == qx;
                data[(n * side + i) * side + j] = (float)(gen.NextNormal() * 0.3 + (bright ? 1.0 : 0.0));
            }
        }
    }

    return (Tensor.FromArray(data, [batch, 1, side, side]), targets);
}
