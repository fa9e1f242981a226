using System.Diagnostics;
using Azure.Core;
using Azure.Core.Pipeline;
using Microsoft.Extensions.Logging;

namespace Indexer.Grains.Diagnostics;

/// <summary>
/// Times every try of every blob storage request (a retry is a try of its own) into
/// <see cref="IndexerTelemetry.StorageRequestDuration"/>, and logs a warning for a try slower than
/// <see cref="SlowThreshold"/> or one that failed without an answer. The storage SDK retries silently, so without it a
/// grain call that waited minutes on storage left no trace of why.
/// </summary>
public sealed partial class StorageRequestTimer(IndexerTelemetry telemetry, ILogger<StorageRequestTimer> logger) : HttpPipelinePolicy
{
    /// <summary>A try this slow is logged: storage that answers at all answers in milliseconds.</summary>
    public static readonly TimeSpan SlowThreshold = TimeSpan.FromSeconds(5);

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline) =>
        Time(message, () => { ProcessNext(message, pipeline); return ValueTask.CompletedTask; }).AsTask().GetAwaiter().GetResult();

    public override ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline) =>
        Time(message, () => ProcessNextAsync(message, pipeline));

    private async ValueTask Time(HttpMessage message, Func<ValueTask> next)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next();
        }
        catch (Exception ex)
        {
            var failedAfter = Stopwatch.GetElapsedTime(started);
            Record(message, failedAfter, ex.GetType().Name);
            LogFailed(ex, message.Request.Method.ToString(), Path(message), failedAfter.TotalSeconds);
            throw;
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        var status = message.HasResponse ? message.Response.Status : 0;
        Record(message, elapsed, status.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (elapsed >= SlowThreshold) LogSlow(message.Request.Method.ToString(), Path(message), status, elapsed.TotalSeconds);
    }

    private void Record(HttpMessage message, TimeSpan elapsed, string outcome) =>
        telemetry.StorageRequestDuration.Record(elapsed.TotalSeconds,
            new KeyValuePair<string, object?>("http.request.method", message.Request.Method.ToString()),
            new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>The container and blob, without the account or the query (which may hold a signature).</summary>
    private static string Path(HttpMessage message) => message.Request.Uri.Path;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Storage {Method} {Path} answered {Status} after {Seconds:F1} s")]
    private partial void LogSlow(string method, string path, int status, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Storage {Method} {Path} failed after {Seconds:F1} s without an answer (the client retries up to its limit)")]
    private partial void LogFailed(Exception ex, string method, string path, double seconds);
}
