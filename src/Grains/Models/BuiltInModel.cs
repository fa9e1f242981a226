using Indexer.Embedding;
using Indexer.Models;
using Indexer.Storage;
using Microsoft.Extensions.Logging;

namespace Indexer.Grains.Models;

/// <summary>
/// Registers the pretrained ResNet18 that ships with Indexer as a model version, through the same path as any user's
/// model: the imported ONNX artifact and its manifest go to model storage, then the registry validates and registers it.
/// </summary>
public sealed partial class BuiltInModel(BlobModelStore models, IGrainFactory grains, ILogger<BuiltInModel> logger)
{
    /// <summary>The version name the built-in model is registered under.</summary>
    public const string DefaultVersion = "v1";

    private readonly ILogger _logger = logger;

    /// <summary>
    /// Makes sure <paramref name="version"/> is stored and registered, and makes it current when no version is current yet.
    /// Safe to run on every silo at every start.
    /// </summary>
    public async Task<ModelVersionInfo> EnsureRegisteredAsync(string version = DefaultVersion, CancellationToken cancellationToken = default)
    {
        var registry = grains.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key);
        var info = await registry.GetAsync(version);
        if (info is null)
        {
            if (await models.GetManifestJsonAsync(version, cancellationToken) is null)
            {
                var imported = await Task.Run(() => ResNet18Model.Import(ResNet18Model.DefaultModelPath, ResNet18Model.DefaultPreprocessPath, version), cancellationToken);
                await models.PutAsync(version, imported.Onnx, imported.Manifest.ToJson(), cancellationToken);
                LogImported(version, imported.Onnx.Length);
            }

            info = await registry.RegisterAsync(version);
        }

        if (await registry.GetCurrentAsync() is null) await registry.SetCurrentAsync(version);
        return info;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Imported the built-in ResNet18 as model {Version} ({Bytes} bytes)")]
    private partial void LogImported(string version, int bytes);
}
