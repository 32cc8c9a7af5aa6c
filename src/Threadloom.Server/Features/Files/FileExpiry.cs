using Microsoft.AspNetCore.WebUtilities;
using Threadloom.Core.Domain;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.Files;

/// <summary>A file's <c>expires_after</c> (<c>{anchor: "created_at", seconds: 3600..2592000}</c>) and what expiry means.</summary>
internal static class FileExpiry
{
    public const long MinSeconds = 3_600;
    public const long MaxSeconds = 2_592_000;

    /// <summary>The lifetime <c>expires_after</c> asks for, or null when it was not <paramref name="given"/>.</summary>
    public static TimeSpan? Parse(string? anchor, long? seconds, bool given, string param = "expires_after")
    {
        if (!given)
        {
            return null;
        }
        if (anchor is null)
        {
            throw ApiErrors.MissingParameter($"{param}.anchor");
        }
        if (anchor != "created_at")
        {
            throw ApiErrors.InvalidRequest($"Invalid value: '{anchor}'. Supported values are: 'created_at'.", $"{param}.anchor", "invalid_value");
        }
        if (seconds is not { } value)
        {
            throw ApiErrors.MissingParameter($"{param}.seconds");
        }
        if (value is < MinSeconds or > MaxSeconds)
        {
            throw ApiErrors.InvalidRequest(
                $"Invalid '{param}.seconds': expected an integer between {MinSeconds} and {MaxSeconds}, but got {value} instead.",
                $"{param}.seconds", value < MinSeconds ? "integer_below_min_value" : "integer_above_max_value");
        }
        return TimeSpan.FromSeconds(value);
    }

    public static ApiException BadSeconds(string value) =>
        ApiErrors.InvalidRequest($"Invalid type for 'expires_after.seconds': expected an integer, but got '{value}' instead.", "expires_after.seconds", "invalid_type");

    /// <summary>An expired file is not listed and not found, as OpenAI's are gone; the sweep deletes it soon after.</summary>
    public static bool IsExpired(StoredFile file, DateTimeOffset now) => file.ExpiresAt is { } at && at <= now;
}

/// <summary>Reads one small text field of a multipart body, bounded.</summary>
internal static class FormField
{
    private const int MaxChars = 1024;

    public static async Task<string> ReadAsync(MultipartSection section, string name, CancellationToken cancellationToken)
    {
        using var text = new StreamReader(section.Body);
        var buffer = new char[MaxChars + 1];
        var read = await text.ReadBlockAsync(buffer, cancellationToken);
        if (read > MaxChars)
        {
            throw ApiErrors.StringTooLong(name, MaxChars, read);
        }
        return new string(buffer, 0, read).Trim();
    }
}
