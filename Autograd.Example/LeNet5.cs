using Autograd.Nn;

namespace Autograd.Example;

/// <summary>LeNet-5 as in WORKLOADS.md §6, with TorchSharp's layer names so its state dict maps one to one.</summary>
public static class LeNet5
{
    /// <summary>
    /// Conv2d(1,6,5,padding 2) ReLU MaxPool2d(2) Conv2d(6,16,5) ReLU MaxPool2d(2) Flatten Linear(400,120) ReLU
    /// Linear(120,84) ReLU Linear(84,10): 61,706 parameters, PyTorch's default initialisation drawn from
    /// <paramref name="generator"/> in the order PyTorch draws it (each layer's weight, then its bias).
    /// </summary>
    public static Sequential<float> Create(Generator generator) => Create<float>(generator);

    /// <summary>The same network for any element type (the distributed tests train it in float64 too).</summary>
    public static Sequential<T> Create<T>(Generator generator)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> => new(
        ("conv1", new Conv2d<T>(1, 6, 5, padding: 2, generator: generator)),
        ("relu1", new ReLU<T>()),
        ("pool1", new MaxPool2d<T>(2)),
        ("conv2", new Conv2d<T>(6, 16, 5, generator: generator)),
        ("relu2", new ReLU<T>()),
        ("pool2", new MaxPool2d<T>(2)),
        ("flatten", new Flatten<T>()),
        ("fc1", new Linear<T>(400, 120, generator: generator)),
        ("relu3", new ReLU<T>()),
        ("fc2", new Linear<T>(120, 84, generator: generator)),
        ("relu4", new ReLU<T>()),
        ("fc3", new Linear<T>(84, 10, generator: generator)));
}
