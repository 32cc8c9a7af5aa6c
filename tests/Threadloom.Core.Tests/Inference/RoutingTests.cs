using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Threadloom.Core.Inference;
using Threadloom.Testing;

namespace Threadloom.Core.Tests.Inference;

public sealed class RoutingTests : IAsyncLifetime
{
    private ScriptedModelServer _a = null!;
    private ScriptedModelServer _b = null!;

    public async Task InitializeAsync()
    {
        _a = await ScriptedModelServer.StartAsync();
        _b = await ScriptedModelServer.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    [Fact]
    public async Task Azure_SendsDeploymentPathApiVersionAndApiKeyHeader()
    {
        using var services = InferenceHarness.Build(new Dictionary<string, string?>
        {
            ["Inference:Providers:az:Type"] = "azure",
            ["Inference:Providers:az:Endpoint"] = _a.BaseAddress.ToString(),
            ["Inference:Providers:az:ApiKey"] = "azure-key-1",
            ["Inference:Providers:az:ApiVersion"] = "2024-10-21",
            ["Inference:Models:0:Name"] = "gpt-4o",
            ["Inference:Models:0:Deployment"] = "my-gpt4o",
        });
        _a.Enqueue(Reply.Error(503), Reply.Text("from azure"));

        var events = await services.GetRequiredService<IModelClient>().CollectAsync(InferenceHarness.Ask("gpt-4o", "Hi"));

        Assert.Equal("from azure", string.Concat(events.OfType<TextDelta>().Select(d => d.Text)));
        Assert.Equal(2, _a.ChatRequests.Count);
        Assert.All(_a.ChatRequests, request =>
        {
            Assert.Equal("/openai/deployments/my-gpt4o/chat/completions", request.Path);
            Assert.Equal("my-gpt4o", request.Deployment);
            Assert.Equal("2024-10-21", request.ApiVersion);
            Assert.Single(request.Query); // api-version is added once, even on the retry
            Assert.Equal("azure-key-1", request.Header("api-key"));
            Assert.Null(request.Header("Authorization"));
        });
    }

    [Fact]
    public async Task NoProvider_ResolveExplainsHowToConfigure_AndCallFailsWithTheSameMessage()
    {
        using var services = InferenceHarness.Build(new Dictionary<string, string?>());
        var router = services.GetRequiredService<IModelRouter>();

        var resolution = router.Resolve("gpt-4o");

        Assert.False(router.HasProviders);
        Assert.False(resolution.Succeeded);
        Assert.Contains("No model provider is configured", resolution.Error, StringComparison.Ordinal);
        Assert.Contains("OPENAI_BASE_URL", resolution.Error, StringComparison.Ordinal);
        Assert.Contains("Inference:Providers", resolution.Error, StringComparison.Ordinal);
        var error = await Assert.ThrowsAsync<ModelCallException>(
            () => services.GetRequiredService<IModelClient>().CollectAsync(InferenceHarness.Ask("gpt-4o", "Hi")));
        Assert.Equal(ModelErrorCodes.ServerError, error.Code);
        Assert.Equal(resolution.Error, error.Message);
    }

    [Fact]
    public async Task EnvironmentVariables_DefineTheDefaultProvider()
    {
        using var services = InferenceHarness.Build(new Dictionary<string, string?>
        {
            ["OPENAI_BASE_URL"] = _a.OpenAIBaseAddress.ToString(),
            ["OPENAI_API_KEY"] = "env-key",
        });
        _a.Enqueue(Reply.Text("hi"));

        var resolution = services.GetRequiredService<IModelRouter>().Resolve("llama3.1:8b");
        await services.GetRequiredService<IModelClient>().CollectAsync(InferenceHarness.Ask("llama3.1:8b", "Hi"));

        Assert.Equal(new ResolvedModel("llama3.1:8b", "default", "openai", "llama3.1:8b", 128_000, "o200k_base"), resolution.Model);
        var request = Assert.Single(_a.ChatRequests);
        Assert.Equal("Bearer env-key", request.Header("Authorization"));
        Assert.Equal("llama3.1:8b", request.Model);
    }

    [Fact]
    public async Task Routes_ExactPrefixAndCatchAll_ReachTheirProviders()
    {
        using var services = InferenceHarness.Build(new Dictionary<string, string?>
        {
            ["Inference:Providers:a:BaseUrl"] = _a.OpenAIBaseAddress.ToString(),
            ["Inference:Providers:b:BaseUrl"] = _b.OpenAIBaseAddress.ToString(),
            ["Inference:Models:0:Name"] = "*",
            ["Inference:Models:0:Provider"] = "b",
            ["Inference:Models:1:Name"] = "gpt-4o",
            ["Inference:Models:1:Provider"] = "a",
            ["Inference:Models:1:Model"] = "upstream-4o",
            ["Inference:Models:1:ContextWindow"] = "8000",
            ["Inference:Models:1:Tokenizer"] = "cl100k_base",
            ["Inference:Models:2:Name"] = "gpt-4*",
            ["Inference:Models:2:Provider"] = "a",
        });
        var router = services.GetRequiredService<IModelRouter>();
        var client = services.GetRequiredService<IModelClient>();
        _a.Enqueue(Reply.Text("a"));
        _b.Enqueue(Reply.Text("b"));

        Assert.Equal(new ResolvedModel("gpt-4o", "a", "openai", "upstream-4o", 8000, "cl100k_base"), router.Resolve("gpt-4o").Model);
        Assert.Equal("a", router.Resolve("gpt-4-turbo").Model?.ProviderName);
        Assert.Equal(new ResolvedModel("mistral", "b", "openai", "mistral", 128_000, "o200k_base"), router.Resolve("mistral").Model);
        Assert.Equal(["gpt-4o"], router.ListedModels);

        await client.CollectAsync(InferenceHarness.Ask("gpt-4o", "Hi"));
        await client.CollectAsync(InferenceHarness.Ask("mistral", "Hi"));

        Assert.Equal("upstream-4o", Assert.Single(_a.ChatRequests).Model);
        Assert.Equal("mistral", Assert.Single(_b.ChatRequests).Model);
    }

    [Fact]
    public void Routes_NoMatchAmongSeveralProviders_ExplainsWhichKeyToAdd()
    {
        using var services = InferenceHarness.Build(new Dictionary<string, string?>
        {
            ["Inference:Providers:a:BaseUrl"] = _a.OpenAIBaseAddress.ToString(),
            ["Inference:Providers:b:BaseUrl"] = _b.OpenAIBaseAddress.ToString(),
            ["Inference:Models:0:Name"] = "gpt-4o",
            ["Inference:Models:0:Provider"] = "a",
        });

        var resolution = services.GetRequiredService<IModelRouter>().Resolve("claude");

        Assert.False(resolution.Succeeded);
        Assert.Contains("No model route matches 'claude'", resolution.Error, StringComparison.Ordinal);
        Assert.Contains("Inference:Models", resolution.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Inference:Providers:x:Type", "bedrock", "Type must be 'openai' or 'azure'")]
    [InlineData("Inference:Providers:x:BaseUrl", "not a url", "BaseUrl must be an absolute")]
    [InlineData("Inference:Models:0:Provider", "missing", "Provider must name one of")]
    [InlineData("Inference:Models:0:Tokenizer", "p50k_base", "Tokenizer must be one of")]
    [InlineData("Inference:MaxRetries", "99", "MaxRetries")]
    public void InvalidConfiguration_FailsValidation(string key, string value, string expected)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Inference:Providers:x:BaseUrl"] = "http://127.0.0.1:1/v1",
            ["Inference:Models:0:Name"] = "*",
            [key] = value,
        };
        using var services = InferenceHarness.Build(settings);

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<InferenceOptions>>().Value);

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
