using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Threadloom.Core.Storage;
using Threadloom.Core.Storage.Blobs;

namespace Threadloom.Server.Http;

/// <summary>
/// Turns every exception that escapes a handler into the OpenAI envelope. Expected failures keep their status;
/// anything else is a 500 whose text says nothing about the server's internals.
/// </summary>
internal sealed partial class ApiExceptionHandler(ILogger<ApiExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var (status, error) = exception switch
        {
            ApiException api => (api.StatusCode, api.Error),
            UnknownCursorException cursor => (400, new ErrorBody(cursor.Message, "invalid_request_error", cursor.Parameter, null)),
            BlobTooLargeException tooLarge => (413, new ErrorBody($"File is too large. The maximum size is {tooLarge.MaxBytes} bytes.", "invalid_request_error", "file", "file_too_large")),
            BadHttpRequestException bad => (bad.StatusCode, new ErrorBody(RequestBody.DescribeBadRequest(bad), "invalid_request_error", null, null)),
            JsonException json => (400, RequestBody.Describe(json)),
            _ => (500, ApiErrors.Server(ErrorBodyJson.InternalError)),
        };
        if (status >= 500)
        {
            LogUnhandled(exception, httpContext.Request.Method, httpContext.Request.Path);
        }
        if (httpContext.Response.HasStarted)
        {
            return true;
        }
        httpContext.Response.StatusCode = status;
        await httpContext.Response.WriteAsJsonAsync(new ErrorResponse(error), ApiJsonContext.Default.ErrorResponse, cancellationToken: cancellationToken);
        return true;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled error on {Method} {Path}")]
    private partial void LogUnhandled(Exception exception, string method, string path);
}
