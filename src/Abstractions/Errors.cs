namespace Indexer;

/// <summary>What kind of failure an <see cref="IndexerException"/> reports; the HTTP API maps each to a status code.</summary>
public enum IndexerErrorCode
{
    InvalidArgument = 0,
    NotFound = 1,
    Conflict = 2,
    /// <summary>Temporarily unable to take more work (a queue is full); retry later.</summary>
    Busy = 3,
    InvalidImage = 4,
    InvalidModel = 5,
}

/// <summary>An error meant for the caller: its message says what was wrong and nothing was changed.</summary>
[GenerateSerializer, Alias("indexer.error")]
public sealed class IndexerException : Exception
{
    public IndexerException(IndexerErrorCode code, string message) : base(message) => Code = code;

    public IndexerException(IndexerErrorCode code, string message, Exception inner) : base(message, inner) => Code = code;

    [Id(0)]
    public IndexerErrorCode Code { get; init; }
}
