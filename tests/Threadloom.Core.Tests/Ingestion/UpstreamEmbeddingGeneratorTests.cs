using System.Numerics.Tensors;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Threadloom.Core.Inference;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Tests.Inference;
using Threadloom.Testing;

namespace Threadloom.Core.Tests.Ingestion;

public sealed class UpstreamEmbeddingGeneratorTests : IAsyncLifetime
{
    private const string Key = "sk-test-secret-key-123456";
    private ScriptedModelServer _server = null!;
    private readonly List<ServiceProvider> _providers = [];

    public async Task InitializeAsync() => _server = await ScriptedModelServer.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var provider in _providers)
        {
            await provider.DisposeAsync();
        }
        await _server.DisposeAsync();
    }

    /// <summary>The file search engine's services as the host wires them, from in-memory settings only (no environment).</summary>
    private ServiceProvider Build(IDictionary<string, string?> settings)
    {
        var all = new Dictionary<string, string?>
        {
            ["Inference:MaxRetries"] = "2",
            ["Inference:RetryBaseDelay"] = "00:00:00.001",
        };
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(all).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<TimeProvider>(new RecordingTimeProvider());
        services.AddInference(configuration);
        services.AddOptions<EmbeddingsOptions>().Bind(configuration.GetSection(EmbeddingsOptions.SectionName));
        services.AddFileSearchEngine();
        var provider = services.BuildServiceProvider();
        _providers.Add(provider);
        return provider;
    }

    private Dictionary<string, string?> Upstream(params (string Key, string Value)[] extra)
    {
        var settings = InferenceHarness.OpenAIProvider(_server.OpenAIBaseAddress, "up", Key);
        settings["Embeddings:Model"] = "text-embedding-3-small";
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }
        return settings;
    }

    /// <summary>Equal up to float rounding: the generator re-normalises what the server already normalised.</summary>
    private static void AssertClose(float[] expected, Embedding<float> actual)
    {
        Assert.Equal(expected.Length, actual.Vector.Length);
        Assert.All(expected.Zip(actual.Vector.ToArray()), p => Assert.Equal(p.First, p.Second, 5));
    }

    private static IEmbeddingGenerator<string, Embedding<float>> Generator(IServiceProvider services) =>
        services.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>();

    [Fact]
    public async Task Generate_CallsTheConfiguredModelAndReportsItAsTheModelId()
    {
        var generator = Generator(Build(Upstream()));

        var result = await generator.GenerateAsync(["red apple pie", "quantum physics"]);

        Assert.Equal("text-embedding-3-small", generator.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId);
        Assert.All(result, e => Assert.Equal("text-embedding-3-small", e.ModelId));
        AssertClose(ScriptedModelServer.HashEmbedding("red apple pie", _server.EmbeddingDimensions), result[0]);
        AssertClose(ScriptedModelServer.HashEmbedding("quantum physics", _server.EmbeddingDimensions), result[1]);
        var request = Assert.Single(_server.EmbeddingRequests);
        Assert.Equal("/v1/embeddings", request.Path);
        Assert.Equal("text-embedding-3-small", request.Model);
        Assert.Equal(["red apple pie", "quantum physics"], request.Inputs);
        Assert.Null(request.Dimensions);
        Assert.Equal($"Bearer {Key}", request.Header("Authorization"));
    }

    [Fact]
    public async Task Generate_Dimensions_AreSentAndDescribed()
    {
        var generator = Generator(Build(Upstream(("Embeddings:Dimensions", "64"))));

        var result = await generator.GenerateAsync(["red apple pie"]);

        Assert.Equal(64, Assert.Single(_server.EmbeddingRequests).Dimensions);
        Assert.Equal(64, result[0].Vector.Length);
        Assert.Equal(64, generator.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelDimensions);
    }

    [Fact]
    public async Task Generate_NonUnitVectorsFromUpstream_AreNormalised()
    {
        // Some OpenAI-compatible servers return raw vectors; the index scores by dot product.
        _server.EmbeddingFunction = text => [.. ScriptedModelServer.HashEmbedding(text, 8).Select(x => x * 7.5f)];
        var generator = Generator(Build(Upstream()));

        var result = await generator.GenerateAsync(["red apple pie", "quantum physics"]);

        Assert.All(result, e => Assert.Equal(1f, TensorPrimitives.Norm(e.Vector.Span), 4));
        AssertClose(ScriptedModelServer.HashEmbedding("red apple pie", 8), result[0]);
    }

    [Fact]
    public async Task Generate_ManyInputs_AreSplitIntoRequestsInOrder()
    {
        var generator = Generator(Build(Upstream(("Embeddings:MaxBatchSize", "2"))));
        string[] inputs = ["one", "two", "three", "four", "five"];

        var result = await generator.GenerateAsync(inputs);

        Assert.Equal([2, 2, 1], _server.EmbeddingRequests.Select(r => r.Inputs.Count));
        Assert.Equal(inputs, _server.EmbeddingRequests.SelectMany(r => r.Inputs));
        Assert.Equal(inputs.Length, result.Count);
        for (var i = 0; i < inputs.Length; i++)
        {
            AssertClose(ScriptedModelServer.HashEmbedding(inputs[i], _server.EmbeddingDimensions), result[i]);
        }
    }

    [Fact]
    public void Batches_StayWithinTheTokenEstimate_AndAnOversizedInputGoesAlone()
    {
        string[] inputs = ["aaaa", "bbbb", "cccc", new string('d', 20), "ee"];

        var batches = UpstreamEmbeddingGenerator.Batches(inputs, maxInputs: 100, maxTokens: 10).ToList();

        Assert.Equal([["aaaa", "bbbb"], ["cccc"], [new string('d', 20)], ["ee"]], batches);
    }

    [Fact]
    public async Task Generate_AzureProvider_CallsTheDeploymentWithApiKeyAndVersion()
    {
        var generator = Generator(Build(new Dictionary<string, string?>
        {
            ["Inference:Providers:az:Type"] = "azure",
            ["Inference:Providers:az:Endpoint"] = _server.BaseAddress.ToString(),
            ["Inference:Providers:az:ApiKey"] = "azure-key",
            ["Inference:Providers:az:ApiVersion"] = "2024-06-01",
            ["Embeddings:Provider"] = "az",
            ["Embeddings:Model"] = "my-embeddings",
        }));

        await generator.GenerateAsync(["red apple pie"]);

        var request = Assert.Single(_server.EmbeddingRequests);
        Assert.Equal("/openai/deployments/my-embeddings/embeddings", request.Path);
        Assert.Equal("my-embeddings", request.Deployment);
        Assert.Equal("2024-06-01", request.ApiVersion);
        Assert.Equal("azure-key", request.Header("api-key"));
        Assert.Null(request.Header("Authorization"));
        Assert.Equal("my-embeddings", generator.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId);
    }

    [Fact]
    public async Task Generate_UpstreamKeepsFailing_ThrowsASafeServerErrorAfterRetries()
    {
        _server.FailEmbeddingsWith(Reply.Error(503, "overloaded at https://internal.example/v1 with sk-abcdefghijkl"));
        var generator = Generator(Build(Upstream()));

        var error = await Assert.ThrowsAsync<ModelCallException>(() => generator.GenerateAsync(["red apple pie"]));

        Assert.Equal(ModelErrorCodes.ServerError, error.Code);
        Assert.Equal(503, error.UpstreamStatus);
        Assert.Equal(3, _server.EmbeddingRequests.Count);
        Assert.DoesNotContain("sk-", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("http", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Generate_TransientFailure_IsRetried()
    {
        _server.EnqueueEmbeddingErrors(Reply.Error(429, retryAfter: TimeSpan.FromMilliseconds(1)));
        var generator = Generator(Build(Upstream()));

        var result = await generator.GenerateAsync(["red apple pie"]);

        Assert.Single(result);
        Assert.Equal(2, _server.EmbeddingRequests.Count);
    }

    [Fact]
    public async Task Generate_UnknownModel_NamesTheEmbeddingsSetting()
    {
        _server.FailEmbeddingsWith(Reply.Error(404, "The model does not exist"));
        var generator = Generator(Build(Upstream()));

        var error = await Assert.ThrowsAsync<ModelCallException>(() => generator.GenerateAsync(["red apple pie"]));

        Assert.Contains("Embeddings:Model", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Model_WithTheOpenAIEnvironmentProvider_UsesIt()
    {
        var generator = Generator(Build(new Dictionary<string, string?>
        {
            ["OPENAI_BASE_URL"] = _server.OpenAIBaseAddress.ToString(),
            ["OPENAI_API_KEY"] = Key,
            ["Embeddings:Model"] = "text-embedding-3-small",
        }));

        await generator.GenerateAsync(["red apple pie"]);

        var request = Assert.Single(_server.EmbeddingRequests);
        Assert.Equal(("text-embedding-3-small", $"Bearer {Key}"), (request.Model, request.Header("Authorization")));
    }

    [Fact]
    public void NoEmbeddingsSection_RegistersTheLocalModel_WithInt8Weights()
    {
        var generator = Generator(Build(InferenceHarness.OpenAIProvider(_server.OpenAIBaseAddress, "up", Key)));

        Assert.Equal(MiniLmEmbeddingGenerator.Int8ModelId, Assert.IsType<MiniLmEmbeddingGenerator>(generator).GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId);
        Assert.Empty(_server.Requests);
    }

    [Theory]
    [InlineData("all-MiniLM-L6-v2", "false", MiniLmEmbeddingGenerator.ModelId)]
    [InlineData("snowflake-arctic-embed-xs", null, "Snowflake/snowflake-arctic-embed-xs")]
    public void LocalModel_WithoutInt8_RegistersItsFloatWeights(string model, string? int8, string expected)
    {
        var generator = Generator(Build(new Dictionary<string, string?> { ["Embeddings:Provider"] = "local", ["Embeddings:Model"] = model, ["Embeddings:LocalInt8"] = int8 }));

        Assert.Equal(expected, generator.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId);
    }

    [Fact]
    public void LocalInt8_RegistersTheLocalModelWithInt8Weights()
    {
        var settings = new Dictionary<string, string?>(InferenceHarness.OpenAIProvider(_server.OpenAIBaseAddress, "up", Key)) { ["Embeddings:LocalInt8"] = "true" };
        var generator = Generator(Build(settings));

        Assert.Equal(MiniLmEmbeddingGenerator.Int8ModelId, Assert.IsType<MiniLmEmbeddingGenerator>(generator).GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public void LocalInt8_WithArctic_FailsValidation_NamingTheModelItIsBuiltFor()
    {
        var services = Build(new Dictionary<string, string?>
        {
            ["Embeddings:Provider"] = "local", ["Embeddings:Model"] = "snowflake-arctic-embed-xs", ["Embeddings:LocalInt8"] = "true",
        });

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<EmbeddingsOptions>>().Value);

        Assert.Contains("Embeddings:LocalInt8 is built for all-MiniLM-L6-v2 only, not snowflake-arctic-embed-xs", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Embeddings:Provider", "nope", "Embeddings:Provider 'nope' is not one of Inference:Providers (up)")]
    [InlineData("Embeddings:Model", "", "Embeddings:Model is required when Embeddings:Provider is set")]
    [InlineData("Embeddings:Dimensions", "0", "Dimensions")]
    [InlineData("Embeddings:MaxBatchSize", "4096", "MaxBatchSize")]
    [InlineData("Embeddings:LocalInt8", "true", "Embeddings:LocalInt8 applies to the built-in model only")]
    public void InvalidConfiguration_FailsValidation(string key, string value, string expected)
    {
        var settings = Upstream(("Embeddings:Provider", "up"));
        settings[key] = value;
        var services = Build(settings);

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<EmbeddingsOptions>>().Value);

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Model_WithoutAnyProvider_FailsValidationWithHowToConfigure()
    {
        var services = Build(new Dictionary<string, string?> { ["Embeddings:Model"] = "text-embedding-3-small" });

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<EmbeddingsOptions>>().Value);

        Assert.Contains("needs a model provider", error.Message, StringComparison.Ordinal);
        Assert.Contains("OPENAI_BASE_URL", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Model_WithSeveralProviders_NeedsTheProviderNamed()
    {
        var settings = Upstream();
        settings["Inference:Providers:other:BaseUrl"] = "http://127.0.0.1:9/v1";
        var services = Build(settings);

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<EmbeddingsOptions>>().Value);

        Assert.Contains("Embeddings:Provider is required when several providers are configured (other, up)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LocalProvider_WithArctic_RegistersArcticLocally()
    {
        var settings = InferenceHarness.OpenAIProvider(_server.OpenAIBaseAddress, "up", Key);
        settings["Embeddings:Provider"] = "local";
        settings["Embeddings:Model"] = "snowflake-arctic-embed-xs";

        var generator = Assert.IsType<MiniLmEmbeddingGenerator>(Generator(Build(settings)));

        Assert.Same(LocalEmbeddingModel.ArcticXs, generator.Model);
        Assert.Equal("Snowflake/snowflake-arctic-embed-xs", generator.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public void LocalProvider_UnknownModel_FailsValidationNamingTheBuiltInModels()
    {
        var services = Build(new Dictionary<string, string?> { ["Embeddings:Provider"] = "local", ["Embeddings:Model"] = "text-embedding-3-small" });

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<EmbeddingsOptions>>().Value);

        Assert.Contains("'text-embedding-3-small' is not a built-in model", error.Message, StringComparison.Ordinal);
        Assert.Contains("snowflake-arctic-embed-xs", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Dimensions_WithTheLocalModel_FailsValidation()
    {
        var services = Build(new Dictionary<string, string?> { ["Embeddings:Dimensions"] = "256" });

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<EmbeddingsOptions>>().Value);

        Assert.Contains("applies to an upstream model only", error.Message, StringComparison.Ordinal);
    }
}
