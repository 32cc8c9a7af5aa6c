using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Threadloom.Core.Inference;

namespace Threadloom.Core.Tests.Inference;

/// <summary>Builds the inference services from in-memory settings, with fast retries and a recording clock.</summary>
internal static class InferenceHarness
{
    public static ServiceProvider Build(IDictionary<string, string?> settings, RecordingTimeProvider? time = null)
    {
        var all = new Dictionary<string, string?>
        {
            ["Inference:MaxRetries"] = "2",
            ["Inference:RetryBaseDelay"] = "00:00:00.001",
            ["Inference:MaxRetryDelay"] = "00:00:10",
        };
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(all).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<TimeProvider>(time ?? new RecordingTimeProvider());
        services.AddInference(configuration);
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }

    public static Dictionary<string, string?> OpenAIProvider(Uri baseUrl, string name = "local", string apiKey = "sk-test-secret-key-123456") => new()
    {
        [$"Inference:Providers:{name}:Type"] = "openai",
        [$"Inference:Providers:{name}:BaseUrl"] = baseUrl.ToString(),
        [$"Inference:Providers:{name}:ApiKey"] = apiKey,
    };

    public static async Task<List<ModelStreamEvent>> CollectAsync(this IModelClient client, ModelRequest request, CancellationToken cancellationToken = default)
    {
        var events = new List<ModelStreamEvent>();
        await foreach (var e in client.StreamAsync(request, cancellationToken))
        {
            events.Add(e);
        }
        return events;
    }

    public static ModelRequest Ask(string model, string text) =>
        new(model, [new Microsoft.Extensions.AI.ChatMessage(Microsoft.Extensions.AI.ChatRole.User, text)], []);
}

/// <summary>Records every delay asked of it and waits none of it, so retry tests neither sleep nor assert on timing.</summary>
internal sealed class RecordingTimeProvider : TimeProvider
{
    public ConcurrentQueue<TimeSpan> Delays { get; } = new();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        if (dueTime != Timeout.InfiniteTimeSpan && dueTime > TimeSpan.Zero)
        {
            Delays.Enqueue(dueTime);
            dueTime = TimeSpan.Zero;
        }
        return System.CreateTimer(callback, state, dueTime, period);
    }
}
