namespace Indexer.Embedding;

/// <summary>Which half of Fashion-MNIST to load.</summary>
public enum FashionMnistSplit
{
    /// <summary>60,000 training images (files <c>train-*</c>).</summary>
    Train = 0,

    /// <summary>10,000 test images (files <c>t10k-*</c>).</summary>
    Test = 1,
}
