using System.Security.Cryptography;
using System.Text;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;

namespace Threadloom.Server.Auth;

/// <summary>Creates and checks API keys. Keys are shown once and stored only as SHA-256 hashes.</summary>
public sealed class ApiKeys(IProjectStore projects, DevMode devMode, IIdGenerator ids, TimeProvider time)
{
    public const string DefaultProjectName = "default";

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>Creates a key for <paramref name="projectName"/>, creating the project if needed, and returns the plain key.</summary>
    public async Task<(string Key, Project Project)> CreateAsync(string projectName, string keyName, CancellationToken cancellationToken)
    {
        var project = await projects.GetOrCreateAsync(projectName, cancellationToken);
        var key = "sk-tl-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        await projects.CreateKeyAsync(new ApiKey(ids.NewId("key_"), project.Id, keyName, Hash(key), time.GetUtcNow()), cancellationToken);
        devMode.Invalidate();
        return (key, project);
    }
}
