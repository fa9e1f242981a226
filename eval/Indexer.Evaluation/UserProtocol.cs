using System.Globalization;

namespace Indexer.Evaluation;

/// <summary>One simulated user: the images of their gallery and their held-out queries, as indices into an image pool.</summary>
/// <param name="Name">The user's gallery name, e.g. "u03".</param>
/// <param name="Items">Pool indices of the gallery's images.</param>
/// <param name="Queries">Pool indices of the held-out query images (never in the gallery).</param>
public sealed record SimulatedUser(string Name, IReadOnlyList<int> Items, IReadOnlyList<int> Queries);

/// <summary>
/// How a pool of labeled images (the Fashion-MNIST test split, which no model of the zoo trained on) is dealt out to
/// simulated users: the pool is shuffled once with <see cref="Seed"/> and user g takes the g-th run of
/// <see cref="GallerySize"/> + <see cref="Queries"/> images, the first <see cref="GallerySize"/> for the gallery and the
/// rest as queries. The shuffle depends on the pool and the seed only, so a protocol with fewer users deals the same
/// images to its users as the first users of a larger one: the running system's 4 users are the offline run's first 4.
/// </summary>
public sealed record UserProtocol
{
    /// <summary>Simulated users (galleries).</summary>
    public int Galleries { get; init; } = 20;

    /// <summary>Images in each user's gallery.</summary>
    public int GallerySize { get; init; } = 400;

    /// <summary>Held-out query images per user.</summary>
    public int Queries { get; init; } = 50;

    /// <summary>Seed of the shuffle that deals images to users.</summary>
    public int Seed { get; init; }

    /// <summary>Images the protocol uses.</summary>
    public int ImagesNeeded => Galleries * (GallerySize + Queries);

    /// <summary>Throws when a size is out of range or the pool is too small.</summary>
    public void Validate(int poolSize)
    {
        if (Galleries < 1) throw new ArgumentOutOfRangeException(nameof(Galleries), Galleries, "at least one gallery");
        if (GallerySize < 2) throw new ArgumentOutOfRangeException(nameof(GallerySize), GallerySize, "at least two images per gallery");
        if (Queries < 1) throw new ArgumentOutOfRangeException(nameof(Queries), Queries, "at least one query per gallery");
        if ((long)Galleries * (GallerySize + Queries) > poolSize)
        {
            throw new ArgumentException($"{Galleries} users x ({GallerySize} + {Queries}) images = {(long)Galleries * (GallerySize + Queries)} images; the pool holds {poolSize}");
        }
    }

    /// <summary>Deals a pool of <paramref name="poolSize"/> images out to the users.</summary>
    public IReadOnlyList<SimulatedUser> Deal(int poolSize)
    {
        Validate(poolSize);
        var order = Enumerable.Range(0, poolSize).ToArray();
        new Random(Seed).Shuffle(order);
        var users = new SimulatedUser[Galleries];
        var stride = GallerySize + Queries;
        for (var g = 0; g < Galleries; g++)
        {
            var start = g * stride;
            users[g] = new SimulatedUser(
                UserName(g),
                order.AsSpan(start, GallerySize).ToArray(),
                order.AsSpan(start + GallerySize, Queries).ToArray());
        }

        return users;
    }

    /// <summary>The gallery name of user <paramref name="g"/>: "u00", "u01", ….</summary>
    public static string UserName(int g) => "u" + g.ToString("D2", CultureInfo.InvariantCulture);

    /// <summary>One line for the report.</summary>
    public string Describe() => Invariant($"{Galleries} simulated users x {GallerySize} gallery images + {Queries} held-out queries each, dealt from a seeded shuffle (seed {Seed})");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
