namespace Indexer.Embedding;

/// <summary>
/// What a header-only probe learned about an image. Width and height are as displayed,
/// i.e. already swapped when the EXIF orientation rotates the image by 90 degrees.
/// </summary>
/// <param name="Width">Displayed width in pixels.</param>
/// <param name="Height">Displayed height in pixels.</param>
/// <param name="Format">One of "JPEG", "PNG", "WebP", "GIF", "BMP".</param>
public sealed record ImageInfo(int Width, int Height, string Format);
