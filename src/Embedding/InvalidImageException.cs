namespace Indexer.Embedding;

/// <summary>
/// An uploaded image cannot be embedded. <see cref="Reason"/> is written for the end user
/// (for example "image is truncated or corrupt") and is safe to return in an API response.
/// </summary>
public sealed class InvalidImageException : Exception
{
    /// <summary>Creates the exception; the message equals <paramref name="reason"/>.</summary>
    public InvalidImageException(ImageRejection kind, string reason)
        : base(reason)
    {
        Kind = kind;
        Reason = reason;
    }

    /// <summary>Human-readable reason, without internal details.</summary>
    public string Reason { get; }

    /// <summary>Machine-readable category of the rejection.</summary>
    public ImageRejection Kind { get; }
}
