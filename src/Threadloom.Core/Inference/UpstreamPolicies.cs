using System.ClientModel.Primitives;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Threadloom.Core.Inference;

/// <summary>
/// Exponential backoff for upstream 408/429/5xx and network failures (the SDK's default classifier decides what is
/// retriable). Honours <c>retry-after-ms</c> and <c>Retry-After</c> (seconds or HTTP date), capped by
/// <see cref="InferenceOptions.MaxRetryDelay"/>. Waits on the injected <see cref="TimeProvider"/>.
/// </summary>
internal sealed partial class UpstreamRetryPolicy(
    int maxRetries,
    TimeSpan baseDelay,
    TimeSpan maxDelay,
    string providerName,
    TimeProvider timeProvider,
    ILogger logger) : ClientRetryPolicy(maxRetries)
{
    protected override TimeSpan GetNextDelay(PipelineMessage message, int tryCount)
    {
        // tryCount is 1 before the first retry (System.ClientModel counts the try that just failed).
        var attempt = Math.Max(1, tryCount);
        var delay = RetryAfter(message.Response, timeProvider)
            ?? TimeSpan.FromTicks(baseDelay.Ticks * (1L << Math.Min(attempt - 1, 20)));
        if (delay > maxDelay)
        {
            delay = maxDelay;
        }
        LogRetrying(logger, providerName, message.Response?.Status ?? 0, attempt, delay.TotalMilliseconds);
        return delay;
    }

    protected override Task WaitAsync(TimeSpan time, CancellationToken cancellationToken) =>
        Task.Delay(time, timeProvider, cancellationToken);

    internal static TimeSpan? RetryAfter(PipelineResponse? response, TimeProvider timeProvider)
    {
        if (response is null)
        {
            return null;
        }
        if (response.Headers.TryGetValue("retry-after-ms", out var ms)
            && double.TryParse(ms, NumberStyles.Float, CultureInfo.InvariantCulture, out var milliseconds) && milliseconds >= 0)
        {
            return TimeSpan.FromMilliseconds(milliseconds);
        }
        if (response.Headers.TryGetValue("Retry-After", out var value) && value is not null)
        {
            if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0)
            {
                return TimeSpan.FromSeconds(seconds);
            }
            if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
            {
                var wait = at - timeProvider.GetUtcNow();
                return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
            }
        }
        return null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model provider {Provider} answered {Status}; retry {Attempt} in {DelayMs} ms")]
    private static partial void LogRetrying(ILogger logger, string provider, int status, int attempt, double delayMs);
}

/// <summary>
/// Turns an OpenAI-shaped request into an Azure OpenAI deployment request: adds <c>api-version</c> to the query and
/// authenticates with the <c>api-key</c> header instead of <c>Authorization: Bearer</c>. Runs just before the transport,
/// after the SDK's key policy, on every try.
/// </summary>
internal sealed class AzureDeploymentPolicy(string apiVersion, string? apiKey) : PipelinePolicy
{
    public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        Apply(message);
        ProcessNext(message, pipeline, currentIndex);
    }

    public override async ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        Apply(message);
        await ProcessNextAsync(message, pipeline, currentIndex).ConfigureAwait(false);
    }

    private void Apply(PipelineMessage message)
    {
        var request = message.Request;
        if (request.Uri is { } uri && !uri.Query.Contains("api-version=", StringComparison.Ordinal))
        {
            var builder = new UriBuilder(uri);
            var query = builder.Query.TrimStart('?');
            builder.Query = (query.Length == 0 ? "" : query + "&") + "api-version=" + Uri.EscapeDataString(apiVersion);
            request.Uri = builder.Uri;
        }
        request.Headers.Remove("Authorization");
        if (!string.IsNullOrEmpty(apiKey))
        {
            request.Headers.Set("api-key", apiKey);
        }
    }
}
