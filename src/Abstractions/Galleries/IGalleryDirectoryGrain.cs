using System.Security.Cryptography;
using System.Text;

namespace Indexer.Galleries;

/// <summary>
/// One shard of the cluster-wide list of galleries, which operations across galleries (calibrating a model upgrade,
/// backfilling it) walk. A gallery registers in its shard when it is created. Keyed by shard number.
/// </summary>
[Alias("indexer.gallery-directory")]
public interface IGalleryDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>Shards the directory is split into, so that no single grain serialises every gallery creation.</summary>
    const int Shards = 64;

    /// <summary>The shard a gallery key belongs to: stable across processes and versions (SHA-256, not string hashing).</summary>
    static int ShardOf(string galleryKey) =>
        (int)(BitConverter.ToUInt32(SHA256.HashData(Encoding.UTF8.GetBytes(galleryKey)), 0) % Shards);

    /// <summary>Adds a gallery key to this shard. Idempotent.</summary>
    [Alias("register")]
    Task RegisterAsync(string galleryKey);

    /// <summary>This shard's gallery keys in ordinal order after <paramref name="after"/>, at most <paramref name="limit"/>.</summary>
    [Alias("list")]
    Task<IReadOnlyList<string>> ListAsync(string? after, int limit);
}
