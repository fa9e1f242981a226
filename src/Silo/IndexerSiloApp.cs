using Indexer.Silo.Api;
using Indexer.Silo.Hosting;

namespace Indexer.Silo;

/// <summary>The silo application: one Orleans silo with the HTTP API in the same process.</summary>
public static class IndexerSiloApp
{
    /// <summary>
    /// Builds the application. <paramref name="configure"/> lets a test or an embedding host change configuration or
    /// services before the silo's own are added; <paramref name="overrideServices"/> replaces services after them (the
    /// last registration of a service is the one resolved).
    /// </summary>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null, Action<IServiceCollection>? overrideServices = null)
    {
        // Configuration files sit next to the binaries, wherever the process is started from.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder);
        builder.AddIndexerSilo();
        builder.AddServiceDefaults();
        overrideServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.UseExceptionHandler(); // a body that does not bind becomes a 400 that says which field (BadRequestExceptionHandler)
        app.MapDefaultEndpoints();
        app.MapIndexerApi();
        return app;
    }
}
