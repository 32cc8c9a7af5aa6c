using Threadloom.Core.Storage;
using Threadloom.Server.Auth;

namespace Threadloom.Server.Hosting;

/// <summary><c>threadloom keys create --project NAME [--name KEYNAME]</c>: prints a new key once.</summary>
internal static class KeysCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length == 0 || args[0] != "create")
        {
            await Console.Error.WriteLineAsync("usage: threadloom keys create --project NAME [--name KEYNAME]");
            return 2;
        }
        string Option(string name, string fallback)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }
        var builder = ThreadloomApp.CreateBuilder([.. args.Where(a => a.StartsWith("--Server:", StringComparison.Ordinal) || a.StartsWith("--urls", StringComparison.Ordinal))]);
        using var host = builder.Build();
        await host.Services.GetRequiredService<IMigrator>().MigrateAsync(CancellationToken.None);
        var (key, project) = await host.Services.GetRequiredService<ApiKeys>().CreateAsync(Option("--project", ApiKeys.DefaultProjectName), Option("--name", "cli"), CancellationToken.None);
        Console.WriteLine($"project: {project.Name} ({project.Id})");
        Console.WriteLine($"key: {key}");
        return 0;
    }
}
