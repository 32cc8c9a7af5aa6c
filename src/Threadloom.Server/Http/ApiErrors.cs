using System.Text.Json.Serialization;

namespace Threadloom.Server.Http;

/// <summary>The OpenAI error envelope: <c>{"error":{"message","type","param","code"}}</c>.</summary>
public sealed record ErrorResponse(ErrorBody Error);

public sealed record ErrorBody(string Message, string Type, string? Param, string? Code);

/// <summary>An expected failure that becomes a 4xx response in the OpenAI envelope.</summary>
public sealed class ApiException(int statusCode, ErrorBody error) : Exception(error.Message)
{
    public int StatusCode { get; } = statusCode;
    public ErrorBody Error { get; } = error;
}

/// <summary>The errors the API sends, worded as OpenAI words them, built in one place.</summary>
public static class ApiErrors
{
    public static ApiException InvalidRequest(string message, string? param = null, string? code = null) =>
        new(StatusCodes.Status400BadRequest, new ErrorBody(message, "invalid_request_error", param, code));

    public static ApiException NotFound(string kind, string id) =>
        new(StatusCodes.Status404NotFound, new ErrorBody($"No {kind} found with id '{id}'.", "invalid_request_error", null, null));

    public static ApiException MissingParameter(string param) =>
        InvalidRequest($"Missing required parameter: '{param}'.", param, "missing_required_parameter");

    public static ApiException StringTooLong(string param, int max, int actual) =>
        InvalidRequest($"Invalid '{param}': string too long. Expected a string with maximum length {max}, but got a string with length {actual} instead.", param, "string_above_max_length");

    public static ApiException ArrayTooLong(string param, int max, int actual) =>
        InvalidRequest($"Invalid '{param}': array too long. Expected an array with maximum length {max}, but got an array with length {actual} instead.", param, "array_above_max_length");

    public static ApiException Unauthorized(string message, string? code = null) =>
        new(StatusCodes.Status401Unauthorized, new ErrorBody(message, "invalid_request_error", null, code));

    public static ErrorBody Server(string message) => new(message, "server_error", null, null);
}

internal static class ErrorBodyJson
{
    [JsonIgnore]
    public static readonly string InternalError = "The server had an error while processing your request. Sorry about that!";
}
