using Indexer.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Indexer.Client;

public static class IndexerClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IndexerClient"/> for a host that already runs an Orleans client (or a silo) and can reach the
    /// image container of the cluster's storage account.
    /// </summary>
    public static IServiceCollection AddIndexerClient(
        this IServiceCollection services, string storageConnectionString, string imagesContainer = "images", string modelsContainer = "models")
    {
        services.AddSingleton(_ => new BlobImageStore(BlobClients.Create(storageConnectionString), imagesContainer));
        services.AddSingleton(_ => new BlobModelStore(BlobClients.Create(storageConnectionString), modelsContainer));
        services.AddSingleton(sp => new IndexerClient(
            sp.GetRequiredService<IGrainFactory>(), sp.GetRequiredService<BlobImageStore>(), sp.GetRequiredService<BlobModelStore>()));
        return services;
    }
}
