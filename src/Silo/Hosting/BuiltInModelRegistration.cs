using Indexer.Grains.Models;
using Microsoft.Extensions.Options;

namespace Indexer.Silo.Hosting;

/// <summary>
/// Registers the built-in ResNet18 once the silo has started, retrying while storage or the cluster is not ready yet.
/// Runs in the background so the HTTP API is up at once; /health/ready reports when a model is current.
/// </summary>
internal sealed partial class BuiltInModelRegistration(
    BuiltInModel builtIn, IOptions<ModelSettings> settings, ILogger<BuiltInModelRegistration> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!settings.Value.RegisterBuiltIn) return;
        var delay = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var info = await builtIn.EnsureRegisteredAsync(settings.Value.BuiltInVersion, stoppingToken);
                LogReady(info.Version, info.Dimension);
                return;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogRetry(ex, delay);
                await Task.Delay(delay, stoppingToken);
                delay = TimeSpan.FromSeconds(Math.Min(30, delay.TotalSeconds * 2));
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Built-in model {Version} is registered ({Dimension}-d)")]
    private partial void LogReady(string version, int dimension);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Registering the built-in model failed; retrying in {Delay}")]
    private partial void LogRetry(Exception ex, TimeSpan delay);
}
