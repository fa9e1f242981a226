using System.Diagnostics;
using System.Numerics.Tensors;

namespace Indexer.Training;

/// <summary>Hyper-parameters of one training run.</summary>
/// <param name="Epochs">Passes over the training set.</param>
/// <param name="BatchSize">Samples per Adam step.</param>
/// <param name="LearningRate">Peak learning rate; it follows a cosine decay to <see cref="FinalLearningRateFraction"/> of itself.</param>
/// <param name="WeightDecay">AdamW's decoupled weight decay on layer weights.</param>
/// <param name="ClassifierScale">s, the factor on the cosine logits.</param>
/// <param name="Seed">Seeds initialisation and shuffling; the same seed and data give the same head.</param>
/// <param name="FinalLearningRateFraction">Where the cosine decay ends.</param>
public sealed record TrainingOptions(
    int Epochs = 30,
    int BatchSize = 128,
    float LearningRate = 2e-3f,
    float WeightDecay = 1e-4f,
    float ClassifierScale = 16f,
    int Seed = 1,
    float FinalLearningRateFraction = 0.02f)
{
    /// <summary>Throws when a value is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Epochs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(BatchSize);
        if (!(LearningRate > 0f)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "must be positive");
        if (!(WeightDecay >= 0f)) throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "must not be negative");
        if (!(ClassifierScale > 0f)) throw new ArgumentOutOfRangeException(nameof(ClassifierScale), ClassifierScale, "must be positive");
        if (!(FinalLearningRateFraction is >= 0f and <= 1f)) throw new ArgumentOutOfRangeException(nameof(FinalLearningRateFraction), FinalLearningRateFraction, "must be in [0, 1]");
    }
}

/// <summary>Inputs and class indices of a training set.</summary>
/// <param name="Features">Input rows (count x dimension), already standardised.</param>
/// <param name="Labels">Each row's class index, 0..classes−1.</param>
/// <param name="Dimension">Input width.</param>
/// <param name="Classes">Number of classes.</param>
public sealed record TrainingSet(float[] Features, int[] Labels, int Dimension, int Classes)
{
    /// <summary>Number of rows.</summary>
    public int Count => Labels.Length;
}

/// <summary>What one epoch did: mean losses over its batches, accuracy of the running model on them, and time.</summary>
public sealed record EpochStats(int Epoch, double ClassificationLoss, double ExtraLoss, double BatchAccuracy, TimeSpan Elapsed);

/// <summary>A trained head with its classifier and the per-epoch history.</summary>
public sealed record TrainedHead(HeadNetwork Network, CosineClassifier Classifier, IReadOnlyList<EpochStats> History, TrainingOptions Options)
{
    /// <summary>Classification accuracy of the classifier on <paramref name="set"/>.</summary>
    public double Accuracy(TrainingSet set)
    {
        ArgumentNullException.ThrowIfNull(set);
        var predictions = Classifier.Predict(Network.Embed(set.Features, set.Count), set.Count);
        var correct = 0;
        for (var i = 0; i < set.Count; i++) correct += predictions[i] == set.Labels[i] ? 1 : 0;
        return set.Count == 0 ? double.NaN : (double)correct / set.Count;
    }
}

/// <summary>
/// Mini-batch training of a head and a cosine classifier with softmax cross-entropy, plus any extra embedding losses
/// (BCT influence, focal distillation), by AdamW with a cosine learning-rate decay. Deterministic for a given seed.
/// </summary>
public static class HeadTrainer
{
    /// <summary>Trains a new head on <paramref name="set"/>.</summary>
    /// <param name="set">Standardised inputs and class indices.</param>
    /// <param name="architecture">The head's layers.</param>
    /// <param name="options">Hyper-parameters and seed.</param>
    /// <param name="extraLosses">Losses added to the classification loss, evaluated on the same unit embeddings.</param>
    /// <param name="onEpoch">Called after every epoch.</param>
    public static TrainedHead Train(
        TrainingSet set, HeadArchitecture architecture, TrainingOptions options, IReadOnlyList<IEmbeddingLoss>? extraLosses = null, Action<EpochStats>? onEpoch = null)
    {
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(architecture);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (set.Count == 0) throw new ArgumentException("the training set is empty", nameof(set));
        if (set.Features.Length != set.Count * set.Dimension) throw new ArgumentException("one feature row per label is needed", nameof(set));
        extraLosses ??= [];

        var random = new Random(options.Seed);
        var network = new HeadNetwork(set.Dimension, architecture, random);
        var classifier = new CosineClassifier(network.OutputDimension, set.Classes, options.ClassifierScale, random);
        var optimizer = new AdamOptimizer(network.Parameters.Append(classifier.Weights), options.WeightDecay);

        var order = Enumerable.Range(0, set.Count).ToArray();
        var batchesPerEpoch = (set.Count + options.BatchSize - 1) / options.BatchSize;
        var totalSteps = options.Epochs * batchesPerEpoch;
        var step = 0;
        var history = new List<EpochStats>();
        var d = set.Dimension;
        var stopwatch = Stopwatch.StartNew();
        for (var epoch = 1; epoch <= options.Epochs; epoch++)
        {
            random.Shuffle(order);
            double classificationLoss = 0, extraLoss = 0;
            var correct = 0;
            for (var start = 0; start < set.Count; start += options.BatchSize)
            {
                var n = Math.Min(options.BatchSize, set.Count - start);
                var samples = order.AsSpan(start, n);
                var x = new float[n * d];
                var labels = new int[n];
                for (var r = 0; r < n; r++)
                {
                    set.Features.AsSpan(samples[r] * d, d).CopyTo(x.AsSpan(r * d, d));
                    labels[r] = set.Labels[samples[r]];
                }

                optimizer.ZeroGradients();
                var u = network.Forward(x, n);
                var logits = classifier.Forward(u, n);
                var dLogits = new float[logits.Length];
                classificationLoss += SoftmaxCrossEntropy.Compute(logits, labels, set.Classes, dLogits) * n;
                for (var r = 0; r < n; r++) correct += TensorPrimitives.IndexOfMax(logits.AsSpan(r * set.Classes, set.Classes)) == labels[r] ? 1 : 0;
                var du = classifier.Backward(dLogits);
                foreach (var loss in extraLosses) extraLoss += loss.Accumulate(u, samples, labels, du) * n;
                network.Backward(du);

                var progress = (double)step / Math.Max(1, totalSteps - 1);
                var factor = options.FinalLearningRateFraction + (1 - options.FinalLearningRateFraction) * 0.5 * (1 + Math.Cos(Math.PI * progress));
                optimizer.Step((float)(options.LearningRate * factor));
                step++;
            }

            var stats = new EpochStats(epoch, classificationLoss / set.Count, extraLoss / set.Count, (double)correct / set.Count, stopwatch.Elapsed);
            history.Add(stats);
            onEpoch?.Invoke(stats);
        }

        return new TrainedHead(network, classifier, history, options);
    }
}
