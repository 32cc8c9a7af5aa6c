using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;
using Threadloom.Core.Domain;

namespace Threadloom.Server.Http;

/// <summary>
/// Reads JSON request bodies with the source-generated context and turns every reading error into OpenAI's
/// wording (unknown parameter, wrong type, unparseable JSON), without ever echoing serializer internals.
/// </summary>
internal static partial class RequestBody
{
    private const string ParseError = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us.)";

    public static async Task<T> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> typeInfo, bool optional = false)
        where T : class, new()
    {
        var request = context.Request;
        if (request.ContentLength == 0 || (request.ContentLength is null && !request.Headers.ContainsKey("Transfer-Encoding")))
        {
            return optional ? new T() : throw ApiErrors.InvalidRequest("You must provide a JSON body for this request.");
        }
        try
        {
            var value = await JsonSerializer.DeserializeAsync(request.Body, typeInfo, context.RequestAborted);
            return value ?? (optional ? new T() : throw ApiErrors.InvalidRequest("You must provide a JSON object as the body of this request."));
        }
        catch (JsonException e)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, Describe(e));
        }
        catch (NotSupportedException e) when (NotSupportedPath().Match(e.Message) is { Success: true } match)
        {
            // A polymorphic object without its "type" reaches the serializer as an abstract type.
            var param = ToParam(match.Groups[1].Value);
            var typeParam = param is null ? "type" : param + ".type";
            throw ApiErrors.InvalidRequest($"Missing required parameter: '{typeParam}'.", typeParam, "missing_required_parameter");
        }
    }

    public static ErrorBody Describe(JsonException e)
    {
        var param = ToParam(e.Path);
        if (e is InvalidWireValueException wire)
        {
            return new ErrorBody(wire.Message, "invalid_request_error", wire.Param ?? param, null);
        }
        if (UnmappedMember().Match(e.Message) is { Success: true } unmapped)
        {
            var name = unmapped.Groups[1].Value;
            var full = param is null || param.EndsWith(name, StringComparison.Ordinal) ? param ?? name : $"{param}.{name}";
            return new ErrorBody($"Unknown parameter: '{full}'.", "invalid_request_error", full, "unknown_parameter");
        }
        if (Discriminator().Match(e.Message) is { Success: true } discriminator)
        {
            var typeParam = param is null ? "type" : param + ".type";
            return new ErrorBody($"Invalid value: '{discriminator.Groups[1].Value}'. Check the supported values for '{typeParam}'.", "invalid_request_error", typeParam, "invalid_value");
        }
        if (IsSyntaxError(e))
        {
            return new ErrorBody(ParseError, "invalid_request_error", null, null);
        }
        return param is null
            ? new ErrorBody(ParseError, "invalid_request_error", null, null)
            : new ErrorBody($"Invalid type for '{param}'.", "invalid_request_error", param, "invalid_type");
    }

    public static string DescribeBadRequest(BadHttpRequestException e) =>
        e.InnerException is JsonException json ? Describe(json).Message : "The request could not be read.";

    // The reader's own exception type is internal; its name is the only way to tell bad syntax from a bad type.
    private static bool IsSyntaxError(JsonException e) => e.InnerException?.GetType().Name == "JsonReaderException";

    /// <summary><c>$.tools[0].function</c> becomes <c>tools[0].function</c>; the root becomes null.</summary>
    private static string? ToParam(string? path) =>
        path is null or "$" ? null : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');

    [GeneratedRegex("The JSON property '([^']*)' could not be mapped")]
    private static partial Regex UnmappedMember();

    [GeneratedRegex(@"Path: (\$[^ |]*)")]
    private static partial Regex NotSupportedPath();

    [GeneratedRegex("type discriminator id '([^']*)'")]
    private static partial Regex Discriminator();
}
