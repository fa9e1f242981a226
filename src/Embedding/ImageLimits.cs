namespace Indexer.Embedding;

/// <summary>
/// Guards applied before any pixel is decoded, so a hostile or accidental upload cannot exhaust memory.
/// </summary>
/// <param name="MaxBytes">Largest accepted encoded size in bytes (default 64 MiB).</param>
/// <param name="MaxPixels">Largest accepted width × height (default 64 megapixels, about 256 MB as RGBA).</param>
/// <param name="MinSide">Smallest accepted width or height; tinier images carry no usable signal.</param>
public sealed record ImageLimits(long MaxBytes = 64L * 1024 * 1024, long MaxPixels = 64_000_000, int MinSide = 8)
{
    /// <summary>The limits used when the caller has no configuration of its own.</summary>
    public static ImageLimits Default { get; } = new();
}
