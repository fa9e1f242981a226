namespace Indexer.Embedding;

/// <summary>
/// Why an image was rejected, so callers can map it to a status code (for example 413 for
/// <see cref="TooLarge"/>) without parsing the message.
/// </summary>
public enum ImageRejection
{
    /// <summary>The upload has no bytes.</summary>
    Empty = 0,

    /// <summary>The encoded size exceeds <see cref="ImageLimits.MaxBytes"/>.</summary>
    TooLarge = 1,

    /// <summary>The bytes are not JPEG, PNG, WebP, GIF or BMP.</summary>
    UnsupportedFormat = 2,

    /// <summary>The header looked valid but the data is truncated or damaged.</summary>
    Corrupt = 3,

    /// <summary>Width times height exceeds <see cref="ImageLimits.MaxPixels"/>.</summary>
    TooManyPixels = 4,

    /// <summary>A side is shorter than <see cref="ImageLimits.MinSide"/>.</summary>
    TooSmall = 5,
}
