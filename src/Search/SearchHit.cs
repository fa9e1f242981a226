namespace Indexer.Search;

/// <summary>
/// One search result: the item id and its cosine similarity to the query
/// (the dot product of the normalised vectors, in [-1, 1]; higher is more similar).
/// </summary>
/// <param name="Id">The id the vector was upserted under.</param>
/// <param name="Score">Cosine similarity to the query; higher is better.</param>
public readonly record struct SearchHit(string Id, float Score);
