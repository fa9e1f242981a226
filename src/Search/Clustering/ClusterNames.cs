using System.Globalization;
using System.Text;

namespace Indexer.Search.Clustering;

/// <summary>Validation of the names users give clusters: names are user data that outlives every model version.</summary>
public static class ClusterNames
{
    /// <summary>Longest name, in Unicode scalar values (so an emoji counts once): room for "first last (nickname)".</summary>
    public const int MaxLength = 100;

    /// <summary>
    /// The stored form of <paramref name="name"/>: trimmed of surrounding white space and in Unicode normalisation form C,
    /// so that names typed on different devices compare equal.
    /// </summary>
    /// <exception cref="ArgumentException">The name is null, empty or only white space, longer than
    /// <see cref="MaxLength"/>, holds a control character, or is not valid UTF-16 (a lone surrogate).</exception>
    public static string Normalize(string? name)
    {
        if (name is null)
        {
            throw new ArgumentException("A cluster name is required.", nameof(name));
        }

        // Lone surrogates are checked before anything else: string.Normalize would throw its own, less clear, error.
        int length = 0;
        var rest = name.AsSpan();
        while (!rest.IsEmpty)
        {
            if (Rune.DecodeFromUtf16(rest, out Rune rune, out int consumed) != System.Buffers.OperationStatus.Done)
            {
                throw new ArgumentException(
                    $"A cluster name must be valid text; it holds an unpaired surrogate at position {name.Length - rest.Length}.", nameof(name));
            }

            if (Rune.GetUnicodeCategory(rune) == UnicodeCategory.Control)
            {
                throw new ArgumentException(
                    $"A cluster name cannot hold control characters (U+{rune.Value:X4} at position {name.Length - rest.Length}).", nameof(name));
            }

            length++;
            rest = rest[consumed..];
        }

        string trimmed = name.Trim().Normalize(NormalizationForm.FormC);
        if (trimmed.Length == 0)
        {
            throw new ArgumentException("A cluster name cannot be empty or only white space.", nameof(name));
        }

        if (length > MaxLength && CountRunes(trimmed) > MaxLength)
        {
            throw new ArgumentException($"A cluster name holds at most {MaxLength} characters; this one has {CountRunes(trimmed)}.", nameof(name));
        }

        return trimmed;
    }

    private static int CountRunes(string text)
    {
        int count = 0;
        foreach (Rune _ in text.EnumerateRunes())
        {
            count++;
        }

        return count;
    }
}
