using static Indexer.Training.Tests.GradientCheck;

namespace Indexer.Training.Tests;

public sealed class GradientTests
{
    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(true, false)]
    public void LinearLayer_Backward_MatchesFiniteDifferences(bool relu, bool bias)
    {
        var random = new Random(1);
        const int n = 5, p = 7, q = 6;
        var layer = new LinearLayer(p, q, relu, bias, random);
        if (layer.Bias is not null) Array.Copy(RandomArray(random, q, 0.1), layer.Bias.Value, q);
        var x = RandomArray(random, n * p);
        var w = RandomArray(random, n * q);
        double Loss() => Project(layer.Forward(x, n), w);

        Loss();
        var dx = layer.Backward(w);
        AssertMatches("dx", x, dx, Loss);
        AssertMatches("dW", layer.Weights.Value, layer.Weights.Gradient.ToArray(), Loss);
        if (layer.Bias is not null) AssertMatches("db", layer.Bias.Value, layer.Bias.Gradient.ToArray(), Loss);
    }

    [Fact]
    public void L2Normalization_Backward_MatchesFiniteDifferences()
    {
        var random = new Random(2);
        const int n = 4, d = 9;
        var z = RandomArray(random, n * d, 3.0);
        var w = RandomArray(random, n * d);
        double Loss()
        {
            var u = new float[n * d];
            L2Normalization.Forward(z, u, n, d);
            return Project(u, w);
        }

        var u0 = new float[n * d];
        var norms = L2Normalization.Forward(z, u0, n, d);
        AssertMatches("dz", z, L2Normalization.Backward(u0, norms, w, n, d), Loss);
    }

    [Fact]
    public void SoftmaxCrossEntropy_Gradient_MatchesFiniteDifferences_WithSampleWeights()
    {
        var random = new Random(3);
        const int n = 6, c = 4;
        var logits = RandomArray(random, n * c, 2.0);
        int[] labels = [0, 3, 1, 2, 2, 0];
        float[] weights = [1f, 0.5f, 2f, 1f, 3f, 0.25f];
        double Loss() => SoftmaxCrossEntropy.Compute(logits, labels, c, new float[n * c], weights);

        var gradient = new float[n * c];
        SoftmaxCrossEntropy.Compute(logits, labels, c, gradient, weights);
        AssertMatches("dlogits", logits, gradient, Loss);
    }

    [Fact]
    public void SoftmaxCrossEntropy_OfUniformLogits_IsLogOfClassCount()
    {
        var loss = SoftmaxCrossEntropy.Compute(new float[3 * 5], [0, 1, 4], 5, new float[15]);
        Assert.Equal(Math.Log(5), loss, 6);
    }

    [Fact]
    public void CosineClassifier_Backward_MatchesFiniteDifferences_ForEmbeddingsAndRows()
    {
        var random = new Random(4);
        const int n = 5, d = 8, c = 3;
        var classifier = new CosineClassifier(d, c, scale: 4f, random);
        var u = UnitRows(random, n, d);
        int[] labels = [0, 2, 1, 1, 0];
        double Loss() => SoftmaxCrossEntropy.Compute(classifier.Forward(u, n), labels, c, new float[n * c]);

        var logits = classifier.Forward(u, n);
        var dLogits = new float[n * c];
        SoftmaxCrossEntropy.Compute(logits, labels, c, dLogits);
        var du = classifier.Backward(dLogits);
        AssertMatches("du", u, du, Loss);
        AssertMatches("dV", classifier.Weights.Value, classifier.Weights.Gradient.ToArray(), Loss);
    }

    [Fact]
    public void BctInfluenceLoss_Gradient_MatchesFiniteDifferences()
    {
        var random = new Random(5);
        const int n = 6, d = 8, c = 4;
        var old = new CosineClassifier(UnitRows(random, c, d), d, c, scale: 8f);
        var loss = new BctInfluenceLoss(old, weight: 1.5f);
        var u = UnitRows(random, n, d);
        int[] samples = [10, 11, 12, 13, 14, 15];
        int[] labels = [0, 1, 2, 3, 3, 1];
        double Loss() => loss.Accumulate(u, samples, labels, new float[n * d]);

        var gradient = new float[n * d];
        var value = loss.Accumulate(u, samples, labels, gradient);
        Assert.Equal(1.5 * SoftmaxCrossEntropy.Compute(old.Forward(u, n), labels, c, new float[n * c]), value, 5);
        AssertMatches("du", u, gradient, Loss);
    }

    [Fact]
    public void BctInfluenceLoss_AddsToTheGradientItIsGiven()
    {
        var random = new Random(6);
        const int n = 2, d = 4, c = 3;
        var loss = new BctInfluenceLoss(new CosineClassifier(UnitRows(random, c, d), d, c, 8f));
        var u = UnitRows(random, n, d);
        var alone = new float[n * d];
        loss.Accumulate(u, [0, 1], [0, 2], alone);
        var onTop = Enumerable.Repeat(1f, n * d).ToArray();
        loss.Accumulate(u, [0, 1], [0, 2], onTop);
        for (var i = 0; i < alone.Length; i++) Assert.Equal(alone[i] + 1f, onTop[i], 5);
    }

    [Fact]
    public void FocalDistillationLoss_Gradient_MatchesFiniteDifferences()
    {
        var random = new Random(7);
        const int samples = 10, n = 5, d = 8, c = 4;
        var old = new CosineClassifier(UnitRows(random, c, d), d, c, scale: 8f);
        var oldLogits = RandomArray(random, samples * c, 3.0);
        var oldCorrect = Enumerable.Range(0, samples).Select(i => i % 3 == 0).ToArray();
        var loss = new FocalDistillationLoss(old, oldLogits, oldCorrect, alpha: 1f, beta: 5f, temperature: 2f);
        var u = UnitRows(random, n, d);
        int[] batch = [0, 3, 4, 7, 9];
        int[] labels = [1, 0, 2, 3, 1];
        double Loss() => loss.Accumulate(u, batch, labels, new float[n * d]);

        var gradient = new float[n * d];
        Assert.True(loss.Accumulate(u, batch, labels, gradient) > 0);
        AssertMatches("du", u, gradient, Loss);
    }

    [Fact]
    public void FocalDistillationLoss_IsZero_WhenTheNewModelAgreesWithTheOld()
    {
        var random = new Random(8);
        const int n = 3, d = 6, c = 4;
        var old = new CosineClassifier(UnitRows(random, c, d), d, c, scale: 8f);
        var u = UnitRows(random, n, d);
        var oldLogits = old.Forward(u, n);
        var loss = new FocalDistillationLoss(old, oldLogits, [true, false, true], 1f, 5f, 2f);
        var gradient = new float[n * d];
        Assert.Equal(0, loss.Accumulate(u, [0, 1, 2], [0, 1, 2], gradient), 5);
        Assert.All(gradient, g => Assert.Equal(0f, g, 4));
    }

    [Fact]
    public void WholeChain_HeadClassifierAndBct_MatchesFiniteDifferences()
    {
        var random = new Random(9);
        const int n = 6, p = 10, d = 5, c = 3;
        var network = new HeadNetwork(p, new HeadArchitecture([8, d]), random);
        var classifier = new CosineClassifier(d, c, 6f, random);
        var bct = new BctInfluenceLoss(new CosineClassifier(UnitRows(random, c, d), d, c, 6f));
        var x = RandomArray(random, n * p);
        int[] labels = [0, 1, 2, 0, 1, 2];
        int[] samples = [0, 1, 2, 3, 4, 5];
        double Loss()
        {
            var u = network.Forward(x, n);
            var ce = SoftmaxCrossEntropy.Compute(classifier.Forward(u, n), labels, c, new float[n * c]);
            return ce + bct.Accumulate(u, samples, labels, new float[n * d]);
        }

        var u0 = network.Forward(x, n);
        var logits = classifier.Forward(u0, n);
        var dLogits = new float[n * c];
        SoftmaxCrossEntropy.Compute(logits, labels, c, dLogits);
        var du = classifier.Backward(dLogits);
        bct.Accumulate(u0, samples, labels, du);
        network.Backward(du);
        foreach (var layer in network.Layers)
        {
            AssertMatches(layer.Weights.Name, layer.Weights.Value, layer.Weights.Gradient.ToArray(), Loss);
            AssertMatches(layer.Bias!.Name, layer.Bias.Value, layer.Bias.Gradient.ToArray(), Loss);
        }
    }
}
