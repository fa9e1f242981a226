using System.Security.Cryptography;
using System.Text;
using Indexer.Client;
using Microsoft.Extensions.Options;

namespace Indexer.Silo.Api;

/// <summary>Users and their API keys. Section <c>Indexer:Auth</c>.</summary>
public sealed class AuthSettings
{
    public const string Section = "Indexer:Auth";

    public List<ApiUser> Users { get; set; } = [];
}

public sealed class ApiUser
{
    public string Id { get; set; } = "";

    /// <summary>The key the user sends in the <c>X-Api-Key</c> header.</summary>
    public string ApiKey { get; set; } = "";

    /// <summary>An operator: may register model versions. Operators get no access to other users' galleries.</summary>
    public bool Admin { get; set; }
}

internal sealed class AuthSettingsValidator : IValidateOptions<AuthSettings>
{
    /// <summary>Shortest key accepted: long enough that it cannot be guessed by trying.</summary>
    public const int MinKeyLength = 16;

    public ValidateOptionsResult Validate(string? name, AuthSettings options)
    {
        var errors = new List<string>();
        for (var i = 0; i < options.Users.Count; i++)
        {
            var user = options.Users[i];
            if (!Ids.IsValid(user.Id)) errors.Add($"Indexer:Auth:Users:{i}:Id '{user.Id}' is not a valid user id");
            if (user.ApiKey.Length < MinKeyLength) errors.Add($"Indexer:Auth:Users:{i}:ApiKey must be at least {MinKeyLength} characters");
        }

        foreach (var duplicate in options.Users.GroupBy(u => u.ApiKey).Where(g => g.Count() > 1))
        {
            errors.Add($"Indexer:Auth:Users: users {string.Join(", ", duplicate.Select(u => u.Id))} share one API key");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>
/// Maps an API key to its user. Keys are compared as SHA-256 digests in constant time, so neither timing nor a
/// dictionary lookup on the raw key tells an attacker how close a guess was.
/// </summary>
public sealed class ApiKeyAuthenticator(IOptions<AuthSettings> settings)
{
    private readonly (byte[] Digest, ApiUser User)[] _keys =
        settings.Value.Users.Select(u => (Digest(u.ApiKey), u)).ToArray();

    /// <summary>The user the request's key belongs to, or null.</summary>
    public string? Authenticate(HttpRequest request) => FindUser(request)?.Id;

    /// <summary>Whether the request's key belongs to an operator.</summary>
    public bool IsAdmin(HttpRequest request) => FindUser(request)?.Admin == true;

    private ApiUser? FindUser(HttpRequest request)
    {
        var key = request.Headers[IndexerHttpClient.ApiKeyHeader].ToString();
        if (string.IsNullOrEmpty(key)) return null;
        var digest = Digest(key);
        ApiUser? user = null;
        foreach (var (candidate, candidateUser) in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(candidate, digest)) user = candidateUser;
        }

        return user;
    }

    private static byte[] Digest(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}
