using System.Security.Cryptography;
using System.Text;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;

namespace Threadloom.Server.Auth;

/// <summary>Creates, lists and revokes API keys. Keys are shown once and stored only as SHA-256 hashes.</summary>
public sealed class ApiKeys(IProjectStore projects, KeySetCache cache, IIdGenerator ids, TimeProvider time)
{
    public const string DefaultProjectName = "default";

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>The form of a key that may be shown or logged: its first three and last four characters.</summary>
    public static string Redact(string key) => key.Length <= 8 ? "****" : $"{key[..3]}****{key[^4..]}";

    /// <summary>The key of a request: <c>Authorization: Bearer</c>, or Azure's <c>api-key</c> header.</summary>
    public static string? ReadKey(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return authorization["Bearer ".Length..].Trim();
        }
        var apiKey = request.Headers["api-key"].ToString();
        return string.IsNullOrEmpty(apiKey) ? null : apiKey.Trim();
    }

    /// <summary>Creates a key for <paramref name="projectName"/>, creating the project if needed, and returns the plain key.</summary>
    public async Task<(string Key, Project Project)> CreateAsync(string projectName, string keyName, CancellationToken cancellationToken)
    {
        var project = await projects.GetOrCreateAsync(projectName, cancellationToken);
        var key = "sk-tl-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        var hint = $"sk-tl-…{key[^4..]}";
        await projects.CreateKeyAsync(new ApiKey(ids.NewId("key_"), project.Id, keyName, Hash(key), time.GetUtcNow(), hint), cancellationToken);
        cache.Invalidate();
        return (key, project);
    }

    public Task<IReadOnlyList<ApiKeyListing>> ListAsync(CancellationToken cancellationToken) => projects.ListKeysAsync(cancellationToken);

    /// <summary>Revokes a key by id; every node stops accepting it within <see cref="AuthOptions.KeySetRefreshInterval"/>.</summary>
    public async Task<bool> RevokeAsync(string keyId, CancellationToken cancellationToken)
    {
        var revoked = await projects.RevokeKeyAsync(keyId, time.GetUtcNow(), cancellationToken);
        cache.Invalidate();
        return revoked;
    }
}
