using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Threadloom.Bench.Foundation;

/// <summary>Runs Debian's <c>wrk</c> (apt-get install wrk) and reads its summary.</summary>
internal static partial class Wrk
{
    public sealed record Result(double RequestsPerSecond, double P50Ms, double P99Ms, int Errors);

    public static async Task<Result> RunAsync(string url, int connections, int seconds, string method = "GET", string? body = null)
    {
        var script = Path.Combine(Path.GetTempPath(), $"threadloom-wrk-{Guid.NewGuid():N}.lua");
        var lua = $"""
            wrk.method = "{method}"
            wrk.headers["Authorization"] = "Bearer bench"
            wrk.headers["Content-Type"] = "application/json"
            {(body is null ? "" : $"wrk.body = [[{body}]]")}
            """;
        await File.WriteAllTextAsync(script, lua);
        try
        {
            var start = new ProcessStartInfo("wrk") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in new[] { "-t", Math.Min(2, connections).ToString(CultureInfo.InvariantCulture), "-c", connections.ToString(CultureInfo.InvariantCulture), "-d", $"{seconds}s", "--latency", "-s", script, url })
            {
                start.ArgumentList.Add(arg);
            }
            using var process = Process.Start(start) ?? throw new InvalidOperationException("wrk did not start; install it with 'apt-get install wrk'.");
            var output = await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            var rps = double.Parse(Rps().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
            var errors = Non2xx().Match(output) is { Success: true } e ? int.Parse(e.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
            if (errors > 0)
            {
                throw new InvalidOperationException($"wrk saw {errors} non-2xx responses from {url}");
            }
            return new Result(rps, Percentile(output, "50%"), Percentile(output, "99%"), errors);
        }
        finally
        {
            File.Delete(script);
        }
    }

    private static double Percentile(string output, string label)
    {
        var match = Regex.Match(output, $@"^\s*{Regex.Escape(label)}\s+([\d.]+)(us|ms|s)\s*$", RegexOptions.Multiline);
        var value = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        return match.Groups[2].Value switch { "us" => value / 1000, "s" => value * 1000, _ => value };
    }

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
    private static partial Regex Rps();

    [GeneratedRegex(@"Non-2xx or 3xx responses:\s+(\d+)")]
    private static partial Regex Non2xx();
}
