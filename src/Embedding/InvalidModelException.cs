namespace Indexer.Embedding;

/// <summary>
/// A model artifact or its manifest cannot be used: bad manifest fields, unreadable ONNX bytes,
/// shapes that disagree with the manifest, or non-finite outputs. Registration should reject the model.
/// </summary>
public sealed class InvalidModelException : Exception
{
    /// <summary>Creates the exception with a message that names the offending field or shape.</summary>
    public InvalidModelException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception wrapping the underlying parser or runtime failure.</summary>
    public InvalidModelException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
