using System.Globalization;
using Threadloom.Core.Storage;
using Threadloom.Server.Auth;

namespace Threadloom.Server.Hosting;

/// <summary>
/// <c>threadloom keys create --project NAME [--name KEYNAME]</c> prints a new key once; <c>keys list</c> shows every
/// key without its secret or hash; <c>keys revoke ID</c> revokes one on every running node within a second.
/// </summary>
internal static class KeysCommand
{
    private const string Usage = """
        usage: threadloom keys create --project NAME [--name KEYNAME]
               threadloom keys list
               threadloom keys revoke KEY_ID
        (--Server:DataDirectory DIR or THREADLOOM_DATA_DIR selects the data folder)
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        var verb = args.Length > 0 ? args[0] : "";
        if (verb is not ("create" or "list" or "revoke") || (verb == "revoke" && (args.Length < 2 || args[1].StartsWith("--", StringComparison.Ordinal))))
        {
            await Console.Error.WriteLineAsync(Usage);
            return 2;
        }
        string Option(string name, string fallback)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }
        var settings = new List<string>();
        for (var i = 0; i < args.Length - 1; i++)
        {
            if (args[i].StartsWith("--Server:", StringComparison.Ordinal))
            {
                settings.Add(args[i]);
                settings.Add(args[++i]);
            }
        }
        var builder = ThreadloomApp.CreateBuilder([.. settings]);
        using var host = builder.Build();
        await host.Services.GetRequiredService<IMigrator>().MigrateAsync(CancellationToken.None);
        var keys = host.Services.GetRequiredService<ApiKeys>();
        switch (verb)
        {
            case "create":
                var (key, project) = await keys.CreateAsync(Option("--project", ApiKeys.DefaultProjectName), Option("--name", "cli"), CancellationToken.None);
                Console.WriteLine($"project: {project.Name} ({project.Id})");
                Console.WriteLine($"key: {key}");
                return 0;
            case "list":
                Print(await keys.ListAsync(CancellationToken.None));
                return 0;
            default:
                if (await keys.RevokeAsync(args[1], CancellationToken.None))
                {
                    Console.WriteLine($"revoked: {args[1]}");
                    return 0;
                }
                await Console.Error.WriteLineAsync($"No active key has id '{args[1]}' (see 'threadloom keys list').");
                return 1;
        }
    }

    /// <summary>One line per key: never the secret, and never the hash (only the redacted hint made at creation).</summary>
    private static void Print(IReadOnlyList<ApiKeyListing> listings)
    {
        static string Time(DateTimeOffset? t) => t?.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) ?? "-";
        string[] header = ["ID", "PROJECT", "NAME", "KEY", "CREATED", "LAST USED", "STATUS"];
        var rows = listings.Select(l => new[]
        {
            l.Key.Id, l.ProjectName, l.Key.Name, l.Key.Hint ?? "-", Time(l.Key.CreatedAt), Time(l.Key.LastUsedAt),
            l.Key.RevokedAt is { } revoked ? $"revoked {Time(revoked)}" : "active",
        }).ToList();
        var widths = header.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        foreach (var row in rows.Prepend(header))
        {
            Console.WriteLine(string.Join("  ", row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i]))));
        }
    }
}
