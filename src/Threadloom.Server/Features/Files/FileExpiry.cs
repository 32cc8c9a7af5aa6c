using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;
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

/// <summary>The multipart plumbing of <c>POST /files</c> and <c>POST /uploads/{id}/parts</c>.</summary>
internal static class FormField
{
    private const int MaxChars = 1024;

    /// <summary>
    /// Lets this request's body reach <paramref name="maxBytes"/> (plus room for the form around it) and returns the
    /// multipart boundary, or a 400 with <paramref name="message"/> when the body is not <c>multipart/form-data</c>.
    /// </summary>
    public static string Boundary(HttpContext http, long maxBytes, string message, string param)
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
        {
            bodySize.MaxRequestBodySize = maxBytes + 1024 * 1024;
        }
        var boundary = MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var contentType) && contentType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)
            ? HeaderUtilities.RemoveQuotes(contentType.Boundary).Value
            : null;
        return string.IsNullOrEmpty(boundary) ? throw ApiErrors.InvalidRequest(message, param) : boundary;
    }

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
