using System.Numerics;

namespace Autograd.Data;

/// <summary>
/// Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017): 28×28 grey images of 10 kinds of clothing, as the
/// four IDX files <c>{train,t10k}-{images-idx3,labels-idx1}-ubyte</c>, plain or <c>.gz</c>.
/// </summary>
public static class FashionMnist
{
    /// <summary>Mean pixel of the training set, scaled to [0, 1] (the recipe's normalisation constant).</summary>
    public const double Mean = 0.2860;

    /// <summary>Standard deviation of the training pixels, scaled to [0, 1].</summary>
    public const double Std = 0.3530;

    /// <summary>The class names, by label.</summary>
    public static IReadOnlyList<string> Classes { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>True when <paramref name="directory"/> holds all four files (plain or gzip).</summary>
    public static bool Exists(string directory) =>
        Directory.Exists(directory)
        && new[] { "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" }
            .All(f => Find(directory, f) is not null);

    /// <summary>
    /// The training (60,000 images) or test (10,000) set from <paramref name="directory"/>, normalised with
    /// <see cref="Mean"/> and <see cref="Std"/> into [N, 1, 28, 28]. Missing or corrupt files throw with the
    /// file name and what is wrong.
    /// </summary>
    public static TensorDataset<T> Load<T>(string directory, bool train)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(directory);
        var prefix = train ? "train" : "t10k";
        var images = Idx.Read(Require(directory, $"{prefix}-images-idx3-ubyte"));
        var labels = Idx.Read(Require(directory, $"{prefix}-labels-idx1-ubyte"));
        if (images.Shape.Length != 3 || images.Shape[1] != 28 || images.Shape[2] != 28)
        {
            throw new InvalidDataException($"Fashion-MNIST in '{directory}': {prefix} images have shape [{string.Join(", ", images.Shape)}], expected [N, 28, 28].");
        }

        if (labels.Shape.Length != 1 || labels.Count != images.Count)
        {
            throw new InvalidDataException($"Fashion-MNIST in '{directory}': {images.Count} {prefix} images but labels of shape [{string.Join(", ", labels.Shape)}].");
        }

        var bad = Array.FindIndex(labels.Data, b => b >= Classes.Count);
        if (bad >= 0)
        {
            throw new InvalidDataException($"Fashion-MNIST in '{directory}': {prefix} label {labels.Data[bad]} at index {bad} is not a class in 0..9.");
        }

        return TensorDataset<T>.FromIdx(images, labels, Mean, Std);
    }

    private static string? Find(string directory, string name) =>
        new[] { name + ".gz", name }.Select(f => Path.Combine(directory, f)).FirstOrDefault(File.Exists);

    private static string Require(string directory, string name) =>
        Find(directory, name) ?? throw new FileNotFoundException($"Fashion-MNIST: neither '{name}.gz' nor '{name}' is in '{directory}'.", Path.Combine(directory, name + ".gz"));
}
