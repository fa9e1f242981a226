using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Azure;
using Indexer.Grains.Diagnostics;
using Indexer.Storage;
using Indexer.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Indexer.Tests.Unit;

public sealed class StorageRequestTimerTests
{
    /// <summary>
    /// Storage that does not answer (nothing listens on the port): the SDK tries four times without a word, and the timer
    /// records and logs each try, so a grain call that waited on storage leaves a trace of why.
    /// </summary>
    [Fact]
    public async Task EveryTryOfAFailingRequest_IsTimedAndLogged()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        using var telemetry = new IndexerTelemetry(meters);
        var outcomes = new ConcurrentQueue<string>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Scope == meters && instrument.Name == "indexer.storage.request.duration") l.EnableMeasurementEvents(instrument);
            },
        };
        listener.SetMeasurementEventCallback<double>((_, seconds, tags, _) =>
        {
            Assert.True(seconds >= 0);
            foreach (var tag in tags) if (tag.Key == "outcome") outcomes.Enqueue((string)tag.Value!);
        });
        listener.Start();
        var logger = new ListLogger();
        var client = BlobClients.Create(
            $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={Azurite.DevAccountKey};BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;",
            TimeSpan.FromSeconds(2),
            new StorageRequestTimer(telemetry, logger));

        await Assert.ThrowsAnyAsync<Exception>(() => client.GetBlobContainerClient("nowhere").GetPropertiesAsync());

        Assert.Equal(4, outcomes.Count); // the first try and three retries
        Assert.All(outcomes, o => Assert.False(int.TryParse(o, out _), $"no status without an answer; got {o}"));
        Assert.Equal(4, logger.Warnings.Count(m => m.Contains("devstoreaccount1/nowhere", StringComparison.Ordinal) && m.Contains("without an answer", StringComparison.Ordinal)));
    }

    private sealed class ListLogger : ILogger<StorageRequestTimer>
    {
        public ConcurrentQueue<string> Warnings { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == LogLevel.Warning) Warnings.Enqueue(formatter(state, exception));
        }
    }
}
