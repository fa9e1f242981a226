using System.Net;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Indexer.Client;
using Indexer.Grains;
using Indexer.Silo.Api;
using Indexer.Storage;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Storage;

namespace Indexer.Silo.Hosting;

public static class SiloHostingExtensions
{
    /// <summary>
    /// Wires the silo: clustering (localhost or Azure Table), grain state in Azure Blob storage with Orleans' binary
    /// serializer, the grains' services, the in-process <see cref="IndexerClient"/> the HTTP API uses, API-key auth and
    /// the built-in model's registration. Every options class is validated at start-up.
    /// </summary>
    public static WebApplicationBuilder AddIndexerSilo(this WebApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var services = builder.Services;
        services.AddIndexerGrainServices(configuration);
        services.AddOptions<ClusterSettings>().Bind(configuration.GetSection(ClusterSettings.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ModelSettings>().Bind(configuration.GetSection(ModelSettings.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<AuthSettings>().Bind(configuration.GetSection(AuthSettings.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AuthSettings>, AuthSettingsValidator>();
        services.AddSingleton<ApiKeyAuthenticator>();
        // Enums as their names ("lazy", "mapped"), the way the client library and the CLI write them.
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(
            new System.Text.Json.Serialization.JsonStringEnumConverter(System.Text.Json.JsonNamingPolicy.CamelCase)));
        services.AddSingleton(sp => new IndexerClient(
            sp.GetRequiredService<IGrainFactory>(), sp.GetRequiredService<BlobImageStore>(), sp.GetRequiredService<BlobModelStore>()));
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = IndexerApi.MaxRequestBytes);
        services.Configure<Microsoft.AspNetCore.Http.Features.FormOptions>(o => o.MultipartBodyLengthLimit = IndexerApi.MaxRequestBytes);

        var cluster = configuration.GetSection(ClusterSettings.Section).Get<ClusterSettings>() ?? new ClusterSettings();
        var storage = configuration.GetSection(StorageOptions.Section).Get<StorageOptions>() ?? new StorageOptions();
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = cluster.ClusterId;
                o.ServiceId = cluster.ServiceId;
            });
            if (cluster.Mode == ClusteringMode.AzureTable)
            {
                if (string.IsNullOrWhiteSpace(cluster.AdvertisedAddress))
                {
                    silo.ConfigureEndpoints(cluster.SiloPort, cluster.GatewayPort);
                }
                else if (IPAddress.TryParse(cluster.AdvertisedAddress, out var address))
                {
                    silo.ConfigureEndpoints(address, cluster.SiloPort, cluster.GatewayPort, listenOnAnyHostAddress: false);
                }
                else
                {
                    throw new OptionsValidationException(ClusterSettings.Section, typeof(ClusterSettings),
                        [$"Indexer:Cluster:AdvertisedAddress '{cluster.AdvertisedAddress}' is not an IP address"]);
                }

                silo.UseAzureStorageClustering(o => o.TableServiceClient = new TableServiceClient(storage.ConnectionString));
            }
            else
            {
                var primary = cluster.PrimarySiloPort > 0 ? new IPEndPoint(IPAddress.Loopback, cluster.PrimarySiloPort) : null;
                silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort, primary, cluster.ServiceId, cluster.ClusterId);
            }

            silo.AddIndexerPersistence();
            silo.AddActivityPropagation();
        });

        // After UseOrleans, so that it starts once the silo is up.
        services.AddHostedService<BuiltInModelRegistration>();
        return builder;
    }

    /// <summary>
    /// Grain state in Azure Blob storage (the account of <see cref="StorageOptions"/>), written with Orleans' binary
    /// serializer: about half the size and a quarter of the write time of the default JSON for the same state.
    /// Reminders (galleries with pending work) in an Azure table of the same account.
    /// </summary>
    public static ISiloBuilder AddIndexerPersistence(this ISiloBuilder silo)
    {
        silo.AddAzureBlobGrainStorage(IndexerStorageNames.GrainStateProvider, options => options.Configure<IServiceProvider>((o, sp) =>
        {
            o.BlobServiceClient = sp.GetRequiredService<BlobServiceClient>();
            o.ContainerName = IndexerServiceCollectionExtensions.ContainerName(sp, IndexerStorageNames.GrainStateContainer);
            o.GrainStorageSerializer = new OrleansGrainStorageSerializer(sp.GetRequiredService<Orleans.Serialization.Serializer>());
        }));
        silo.UseAzureTableReminderService(options => options.Configure<IOptions<StorageOptions>>((o, storage) =>
        {
            o.TableServiceClient = new TableServiceClient(storage.Value.ConnectionString);
            o.TableName = storage.Value.ContainerPrefix + IndexerStorageNames.RemindersTable;
        }));
        return silo;
    }
}
