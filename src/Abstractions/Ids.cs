using System.Text.RegularExpressions;

namespace Indexer;

/// <summary>
/// Validation of the identifiers that name users, galleries, items and model versions.
/// They end up in grain keys and blob names, so they are kept to a small, printable alphabet.
/// </summary>
public static partial class Ids
{
    /// <summary>Longest identifier accepted; long enough for UUIDs and file names, short enough for blob paths.</summary>
    public const int MaxLength = 128;

    /// <summary>Throws <see cref="IndexerException"/> (InvalidArgument) naming <paramref name="what"/> when <paramref name="value"/> is not a valid identifier.</summary>
    public static string Require(string? value, string what)
    {
        if (!IsValid(value))
        {
            throw new IndexerException(IndexerErrorCode.InvalidArgument,
                $"{what} '{Shorten(value)}' is not valid: use 1 to {MaxLength} characters from letters, digits, '.', '_', '-' and ' ', starting with a letter or digit.");
        }

        return value!;
    }

    public static bool IsValid(string? value) => value is not null && value.Length <= MaxLength && Pattern().IsMatch(value);

    private static string Shorten(string? value) => value is null ? "" : value.Length > 40 ? value[..40] + "…" : value;

    [GeneratedRegex(@"^[\p{L}\p{N}][\p{L}\p{N}._\- ]*$")]
    private static partial Regex Pattern();
}

/// <summary>Names one gallery of one user. The grain key is <c>user/gallery</c>: a gallery is always addressed through its owner.</summary>
[GenerateSerializer, Immutable, Alias("indexer.gallery-key")]
public readonly record struct GalleryKey([property: Id(0)] string UserId, [property: Id(1)] string GalleryId)
{
    public static GalleryKey Create(string? userId, string? galleryId) =>
        new(Ids.Require(userId, "user id"), Ids.Require(galleryId, "gallery id"));

    public static GalleryKey Parse(string grainKey)
    {
        var slash = grainKey.IndexOf('/');
        if (slash <= 0) throw new IndexerException(IndexerErrorCode.InvalidArgument, $"'{grainKey}' is not a gallery key (user/gallery).");
        return Create(grainKey[..slash], grainKey[(slash + 1)..]);
    }

    public override string ToString() => $"{UserId}/{GalleryId}";
}
