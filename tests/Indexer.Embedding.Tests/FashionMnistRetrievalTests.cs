using System.Diagnostics;
using Xunit.Abstractions;

namespace Indexer.Embedding.Tests;

[Collection(ResNet18Collection.Name)]
[Trait("Category", "Model")]
public sealed class FashionMnistRetrievalTests(ResNet18Fixture fixture, ITestOutputHelper output)
{
    private const int ImageCount = 300;
    private const int BatchSize = 16;
    private const int K = 10;

    [Fact]
    public void ResNet18Embeddings_GiveLeaveOneOutTop10PrecisionAboveHalf()
    {
        var images = FashionMnist.Load(FashionMnist.DefaultDirectory, FashionMnistSplit.Test, ImageCount);
        var embedder = fixture.Embedder;
        var manifest = embedder.Manifest;
        int length = ImageDecoder.TensorLength(manifest);
        int dim = embedder.Dimension;
        var batch = new float[BatchSize * length];
        var vectors = new float[ImageCount * dim];

        var stopwatch = Stopwatch.StartNew();
        for (int start = 0; start < ImageCount; start += BatchSize)
        {
            int count = Math.Min(BatchSize, ImageCount - start);
            for (int i = 0; i < count; i++)
            {
                // Go through PNG files, exactly as ingested uploads would.
                ImageDecoder.Preprocess(images.EncodePng(start + i), manifest, ImageLimits.Default, batch.AsSpan(i * length, length));
            }

            embedder.Embed(batch.AsSpan(0, count * length), count, vectors.AsSpan(start * dim, count * dim));
        }

        double seconds = stopwatch.Elapsed.TotalSeconds;

        double precisionSum = 0;
        int top1Hits = 0;
        var similarities = new (float Score, int Index)[ImageCount - 1];
        for (int q = 0; q < ImageCount; q++)
        {
            var query = vectors.AsSpan(q * dim, dim);
            int n = 0;
            for (int j = 0; j < ImageCount; j++)
            {
                if (j != q)
                {
                    similarities[n++] = (System.Numerics.Tensors.TensorPrimitives.Dot(query, vectors.AsSpan(j * dim, dim)), j);
                }
            }

            Array.Sort(similarities, (a, b) => b.Score.CompareTo(a.Score));
            precisionSum += similarities.Take(K).Count(s => images.Labels[s.Index] == images.Labels[q]) / (double)K;
            top1Hits += images.Labels[similarities[0].Index] == images.Labels[q] ? 1 : 0;
        }

        double precision = precisionSum / ImageCount;
        output.WriteLine(
            $"{ImageCount} images embedded in {seconds:0.0} s ({ImageCount / seconds:0.0} img/s incl. PNG encode+decode, batch {BatchSize}); " +
            $"leave-one-out P@{K} = {precision:P1}, top-1 = {top1Hits / (double)ImageCount:P1}");
        Assert.True(precision > 0.5, $"P@{K} = {precision:P1}");
    }
}
