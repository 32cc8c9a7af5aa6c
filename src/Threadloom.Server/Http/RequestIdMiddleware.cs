using System.Diagnostics;
using System.Globalization;

namespace Threadloom.Server.Http;

/// <summary>
/// Gives every request an OpenAI-style id (<c>req_…</c>): sent back as <c>x-request-id</c> with
/// <c>openai-processing-ms</c> on every response, errors included, and carried by a logging scope
/// (<see cref="ScopeKey"/>) so that each log line written for the request names it.
/// </summary>
/// <remarks>
/// Design notes: the headers are written in <see cref="HttpResponse.OnStarting(Func{Task})"/>, because the exception
/// handler clears the response headers before it writes a 500, and 401 and 404 answers come from other middleware.
/// This middleware runs first, outside the exception handler, so nothing it registers can be cleared.
/// <see cref="HttpContext.TraceIdentifier"/> takes the same id.
/// </remarks>
internal sealed class RequestIdMiddleware(RequestDelegate next, ILogger<RequestIdMiddleware> logger)
{
    public const string Header = "x-request-id";
    public const string ProcessingHeader = "openai-processing-ms";

    /// <summary>The scope property; ASP.NET Core's own scope already uses <c>RequestId</c> for the connection's id.</summary>
    public const string ScopeKey = "XRequestId";

    public async Task InvokeAsync(HttpContext context)
    {
        var id = "req_" + Guid.NewGuid().ToString("N");
        var started = Stopwatch.GetTimestamp();
        context.TraceIdentifier = id;
        context.Response.OnStarting(() =>
        {
            var headers = context.Response.Headers;
            headers[Header] = id;
            headers[ProcessingHeader] = ((long)Stopwatch.GetElapsedTime(started).TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
            return Task.CompletedTask;
        });
        using (logger.BeginScope(new KeyValuePair<string, object>[] { new(ScopeKey, id) }))
        {
            await next(context);
        }
    }
}
