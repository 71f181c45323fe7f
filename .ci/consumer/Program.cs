// One training step of a small MLP and one GradCheck, through the packages only: a package that lacks an
// assembly, a dependency or a type the public API needs fails to restore, compile or run here.
using Autograd;
using Autograd.Nn;
using Autograd.Optim;
using Autograd.Testing;

var gen = new Generator(seed: 0);
var model = new Sequential<float>(new Linear<float>(4, 8, generator: gen), new ReLU<float>(), new Linear<float>(8, 3, generator: gen));
var optimizer = new SGD<float>(model.Parameters(), lr: 0.1);
var x = Tensor.Randn<float>([16, 4], gen);
int[] y = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0];

var before = (float)model.Forward(x).CrossEntropy(y);
for (var step = 0; step < 5; step++)
{
    optimizer.ZeroGrad();
    var loss = model.Forward(x).CrossEntropy(y);
    loss.Backward();
    optimizer.Step();
}

var after = (float)model.Forward(x).CrossEntropy(y);
var a = Tensor.Randn<double>([3, 4], gen, requiresGrad: true);
var w = Tensor.Randn<double>([4, 2], gen, requiresGrad: true);
var check = GradCheck.Check(t => t[0].MatMul(t[1]).Tanh().Sum(), [a, w]);

Console.WriteLine($"consumer: loss {before:F4} -> {after:F4} after 5 SGD steps; GradCheck {(check.Passed ? "passed" : "FAILED")} over {check.EntriesChecked} entries");
if (!(after < before) || !check.Passed)
{
    Console.Error.WriteLine(check.Message);
    return 1;
}

return 0;
