using static Indexer.Training.Tests.GradientCheck;

namespace Indexer.Training.Tests;

public sealed class HeadTrainerTests
{
    /// <summary>
    /// Three unit-variance Gaussian blobs in 12 dimensions centred 4 along the first three axes: centres 5.7 standard
    /// deviations apart, so the best possible classifier errs on about 0.5% of samples.
    /// </summary>
    internal static TrainingSet Blobs(int perClass, int seed)
    {
        const int d = 12, classes = 3;
        var random = new Random(seed);
        var features = new float[classes * perClass * d];
        var labels = new int[classes * perClass];
        for (var i = 0; i < labels.Length; i++)
        {
            labels[i] = i % classes;
            for (var j = 0; j < d; j++) features[i * d + j] = (j == labels[i] ? 4f : 0f) + (float)Gaussian.Next(random);
        }

        return new TrainingSet(features, labels, d, classes);
    }

    [Fact]
    public void Train_SeparatesGaussianBlobs_OnHeldOutSamples()
    {
        var train = Blobs(100, seed: 1);
        var test = Blobs(100, seed: 2);
        var trained = HeadTrainer.Train(train, HeadArchitecture.Mlp(16, 4), new TrainingOptions(Epochs: 10, BatchSize: 32, LearningRate: 1e-2f, Seed: 3));

        Assert.True(trained.History[^1].ClassificationLoss < trained.History[0].ClassificationLoss / 4, "the loss fell too little");
        Assert.True(trained.Accuracy(test) > 0.97, $"held-out accuracy {trained.Accuracy(test):P1}");
    }

    [Fact]
    public void Train_WithTheSameSeed_GivesTheSameHead()
    {
        var train = Blobs(30, seed: 1);
        var options = new TrainingOptions(Epochs: 3, BatchSize: 16, Seed: 5);
        var a = HeadTrainer.Train(train, HeadArchitecture.Linear(4), options);
        var b = HeadTrainer.Train(train, HeadArchitecture.Linear(4), options);
        var c = HeadTrainer.Train(train, HeadArchitecture.Linear(4), options with { Seed = 6 });
        Assert.Equal(a.Network.Layers[0].Weights.Value, b.Network.Layers[0].Weights.Value);
        Assert.NotEqual(a.Network.Layers[0].Weights.Value, c.Network.Layers[0].Weights.Value);
    }

    [Fact]
    public void Train_WithBct_PullsNewEmbeddingsTowardsTheOldClassifier()
    {
        var train = Blobs(60, seed: 1);
        var old = HeadTrainer.Train(train, HeadArchitecture.Linear(4), new TrainingOptions(Epochs: 10, BatchSize: 32, LearningRate: 1e-2f, Seed: 1));
        var frozen = new CosineClassifier(old.Classifier.NormalizedRows(), 4, 3, old.Classifier.Scale);
        var options = new TrainingOptions(Epochs: 10, BatchSize: 32, LearningRate: 1e-2f, Seed: 2);
        var independent = HeadTrainer.Train(train, HeadArchitecture.Mlp(16, 4), options);
        var compatible = HeadTrainer.Train(train, HeadArchitecture.Mlp(16, 4), options, [new BctInfluenceLoss(frozen)]);

        double OldClassifierAccuracy(TrainedHead head)
        {
            var predictions = frozen.Predict(head.Network.Embed(train.Features, train.Count), train.Count);
            return predictions.Where((p, i) => p == train.Labels[i]).Count() / (double)train.Count;
        }

        var own = old.Accuracy(train);
        var withBct = OldClassifierAccuracy(compatible);
        var without = OldClassifierAccuracy(independent);

        // The old classifier reads BCT embeddings about as well as the old model's own; independent ones it cannot read.
        Assert.True(withBct >= own - 0.03, $"old classifier: {own:P1} on old embeddings, {withBct:P1} on BCT embeddings");
        Assert.True(without < withBct - 0.2, $"old classifier: {withBct:P1} on BCT embeddings, {without:P1} on independent ones");
    }

    [Fact]
    public void Adam_MinimisesAQuadratic()
    {
        var value = new float[] { 3f, -2f };
        var parameter = new Parameter("p", value, decay: false);
        var adam = new AdamOptimizer([parameter]);
        for (var step = 0; step < 500; step++)
        {
            adam.ZeroGradients();
            parameter.Gradient[0] = 2 * (value[0] - 1f);
            parameter.Gradient[1] = 2 * (value[1] + 0.5f);
            adam.Step(0.05f);
        }

        Assert.Equal(1f, value[0], 2);
        Assert.Equal(-0.5f, value[1], 2);
    }

    [Fact]
    public void ExtendedClassifier_KeepsTrainedRows_AndUsesNormalisedClassMeansForUnseenClasses()
    {
        var random = new Random(11);
        const int d = 4;
        var trained = new CosineClassifier(RandomArray(random, 2 * d), d, 2, 5f);
        int[] labels = [0, 3, 3, 1, 2];
        var embeddings = UnitRows(random, labels.Length, d);
        var extended = ExtendedClassifier.Build(trained, [1, 3], embeddings, labels, 4);

        var rows = extended.NormalizedRows();
        var trainedRows = trained.NormalizedRows();
        Assert.Equal(trainedRows[..d], rows[(1 * d)..(2 * d)], new ToleranceComparer(1e-6f));
        Assert.Equal(trainedRows[d..], rows[(3 * d)..(4 * d)], new ToleranceComparer(1e-6f));
        Assert.Equal(embeddings[..d], rows[..d], new ToleranceComparer(1e-6f));
        Assert.Equal(embeddings[(4 * d)..], rows[(2 * d)..(3 * d)], new ToleranceComparer(1e-6f));
        Assert.Equal(5f, extended.Scale);
    }

    private sealed class ToleranceComparer(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;

        public int GetHashCode(float obj) => 0;
    }
}
