using Indexer.Grains.Diagnostics;
using Indexer.Models;
using Indexer.Storage;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Indexer.Silo.Hosting;

public static class ServiceDefaults
{
    /// <summary>OpenTelemetry (Orleans' sources and meter plus Indexer's), health checks and the OpenAPI document.</summary>
    public static WebApplicationBuilder AddServiceDefaults(this WebApplicationBuilder builder)
    {
        var telemetry = builder.Configuration.GetSection(TelemetrySettings.Section).Get<TelemetrySettings>() ?? new TelemetrySettings();
        var otlp = telemetry.OtlpEndpoint
            ?? (Uri.TryCreate(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"], UriKind.Absolute, out var fromEnv) ? fromEnv : null);

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(telemetry.ServiceName, serviceInstanceId: Environment.MachineName + ":" + Environment.ProcessId))
            .WithTracing(tracing =>
            {
                tracing.AddSource("Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application", IndexerTelemetry.SourceName)
                    .AddAspNetCoreInstrumentation(o => o.Filter = ctx => !ctx.Request.Path.StartsWithSegments("/metrics"));
                if (otlp is not null) tracing.AddOtlpExporter(o => o.Endpoint = otlp);
            })
            .WithMetrics(metrics =>
            {
                metrics.AddMeter("Microsoft.Orleans", IndexerTelemetry.MeterName)
                    .AddAspNetCoreInstrumentation()
                    .AddRuntimeInstrumentation()
                    .AddPrometheusExporter();
                if (otlp is not null) metrics.AddOtlpExporter(o => o.Endpoint = otlp);
            });

        builder.Services.AddHealthChecks()
            .AddCheck<StorageHealthCheck>("storage", tags: ["ready"])
            .AddCheck<ModelHealthCheck>("model", tags: ["ready"]);
        builder.Services.AddOpenApi();
        builder.Services.AddProblemDetails();
        // Binding failures are thrown rather than answered with an empty 400, so that the handler can say what was wrong.
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.AddExceptionHandler<BadRequestExceptionHandler>();
        return builder;
    }

    /// <summary>/health/live (the process answers), /health/ready (storage reachable and a model current), /metrics, /openapi/v1.json.</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks("/health/live", new() { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new() { Predicate = c => c.Tags.Contains("ready") });
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapOpenApi();
        return app;
    }
}

internal sealed class StorageHealthCheck(BlobModelStore models) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await foreach (var _ in models.ListVersionsAsync(cancellationToken)) break;
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex)
        {
            return HealthCheckResult.Unhealthy("blob storage is not reachable", ex);
        }
    }
}

internal sealed class ModelHealthCheck(IGrainFactory grains) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var current = await grains.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key).GetCurrentAsync();
        return current is null ? HealthCheckResult.Unhealthy("no model version is current yet") : HealthCheckResult.Healthy($"model {current}");
    }
}

/// <summary>
/// Answers a request the API could not bind (a body that is not JSON, or whose field has the wrong type or an unknown
/// enum value) with a 400 problem whose detail names the field: "$.route: The JSON value could not be converted …".
/// Every other exception is left to the default handler.
/// </summary>
internal sealed class BadRequestExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException bad) return false;
        httpContext.Response.StatusCode = bad.StatusCode;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = { Status = bad.StatusCode, Title = "Bad request", Detail = Describe(bad) },
        });
    }

    /// <summary>The binding error and, when the body's JSON was at fault, where in it.</summary>
    internal static string Describe(BadHttpRequestException bad) =>
        bad.InnerException is System.Text.Json.JsonException json && json.Path is { } path ? $"{bad.Message} {path}: {json.Message}" : bad.Message;
}
