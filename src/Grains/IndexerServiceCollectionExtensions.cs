using Azure.Storage.Blobs;
using Indexer.Grains.Diagnostics;
using Indexer.Grains.Embedding;
using Indexer.Grains.Models;
using Indexer.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Indexer.Grains;

public static class IndexerServiceCollectionExtensions
{
    /// <summary>
    /// Registers what the grains need on a silo: validated options (bad settings fail at start-up, naming the setting),
    /// the blob stores, the embedding pipeline and the project's telemetry.
    /// </summary>
    public static IServiceCollection AddIndexerGrainServices(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<StorageOptions>().Bind(configuration.GetSection(StorageOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<EmbeddingOptions>().Bind(configuration.GetSection(EmbeddingOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<GalleryOptions>().Bind(configuration.GetSection(GalleryOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ClusteringOptions>().Bind(configuration.GetSection(ClusteringOptions.Section)).ValidateDataAnnotations().ValidateOnStart();

        services.AddMetrics();
        services.AddSingleton<IndexerTelemetry>();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<StorageRequestTimer>();
        services.AddSingleton(sp => BlobClients.Create(
            sp.GetRequiredService<IOptions<StorageOptions>>().Value.ConnectionString, perTry: sp.GetRequiredService<StorageRequestTimer>()));
        services.AddSingleton(sp => new BlobImageStore(sp.GetRequiredService<BlobServiceClient>(), ContainerName(sp, IndexerStorageNames.ImagesContainer)));
        services.AddSingleton(sp => new BlobSegmentStore(sp.GetRequiredService<BlobServiceClient>(), ContainerName(sp, IndexerStorageNames.SegmentsContainer)));
        services.AddSingleton(sp => new BlobModelStore(sp.GetRequiredService<BlobServiceClient>(), ContainerName(sp, IndexerStorageNames.ModelsContainer)));
        services.AddSingleton(sp => new BlobClusterStore(sp.GetRequiredService<BlobServiceClient>(), ContainerName(sp, IndexerStorageNames.ClustersContainer)));
        services.AddSingleton(sp => new MapCache(sp.GetRequiredService<BlobModelStore>()));
        services.AddSingleton<EmbeddingPipeline>();
        services.AddSingleton<BuiltInModel>();
        return services;
    }

    /// <summary>A container name with the configured prefix.</summary>
    public static string ContainerName(IServiceProvider services, string name) =>
        services.GetRequiredService<IOptions<StorageOptions>>().Value.ContainerPrefix + name;
}
