using Indexer.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Indexer.Client;

public static class IndexerClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IndexerClient"/> for a host that already runs an Orleans client (or a silo) and can reach the
    /// image container of the cluster's storage account.
    /// </summary>
    public static IServiceCollection AddIndexerClient(this IServiceCollection services, string storageConnectionString, string imagesContainer = "images")
    {
        services.AddSingleton(_ => new BlobImageStore(BlobClients.Create(storageConnectionString), imagesContainer));
        services.AddSingleton(sp => new IndexerClient(sp.GetRequiredService<IGrainFactory>(), sp.GetRequiredService<BlobImageStore>()));
        return services;
    }
}
