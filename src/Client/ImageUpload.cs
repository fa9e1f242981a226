namespace Indexer.Client;

/// <summary>One image to add to a gallery: its bytes and the item id it is indexed under.</summary>
public sealed record ImageUpload(string ItemId, ReadOnlyMemory<byte> Bytes, IReadOnlyDictionary<string, string>? Metadata = null);
