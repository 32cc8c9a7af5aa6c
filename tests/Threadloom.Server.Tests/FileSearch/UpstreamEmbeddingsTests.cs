using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Threadloom.Core.Ingestion;
using Threadloom.Server.Auth;
using Threadloom.Server.Hosting;
using Threadloom.Testing;
using Threadloom.Core.Storage;

namespace Threadloom.Server.Tests.FileSearch;

/// <summary>Issue #4: file search with an upstream embeddings model (the scripted fake), configured through <c>Embeddings</c>.</summary>
public sealed class UpstreamEmbeddingsTests
{
    private const string Model = "text-embedding-3-small";
    private const int Dimensions = 256;

    private static readonly string[] UpstreamArgs =
    [
        "--Embeddings:Provider", "default",
        "--Embeddings:Model", Model,
        "--Embeddings:Dimensions", "256",
        "--Inference:RetryBaseDelay", "00:00:00.010",
    ];

    private const string Pets = "Dogs need a daily walk and fresh water. A dog that is bored chews the furniture. Brush the coat weekly.";
    private const string Taxes = "Quarterly tax returns are due in April, July, October and January. Keep every receipt for deductions.";

    /// <summary>
    /// The fake's vectors relate "xylophone" to dogs and walks: a word in neither file, so only the upstream vectors can
    /// rank the pets file first (BM25 finds nothing, and MiniLM would see no relation).
    /// </summary>
    private static float[] FakeEmbedding(string text) =>
        ScriptedModelServer.HashEmbedding(text.Replace("xylophone", "dog walk", StringComparison.Ordinal), Dimensions);

    [Fact]
    public async Task UpstreamModel_IngestsAndSearches_WithTheConfiguredModel()
    {
        await using var server = await FileSearchServer.StartAsync(null, false, UpstreamArgs);
        server.Model.EmbeddingFunction = FakeEmbedding;
        var pets = await server.UploadAsync("pets.txt", Encoding.UTF8.GetBytes(Pets));
        var taxes = await server.UploadAsync("taxes.txt", Encoding.UTF8.GetBytes(Taxes));

        var id = (await server.OkAsync(server.PostAsync("vector_stores", $$"""{"file_ids":["{{pets}}","{{taxes}}"]}"""))).GetProperty("id").GetString()!;
        var store = await server.WaitUntilDoneAsync($"vector_stores/{id}");

        Assert.Equal(2, store.GetProperty("file_counts").GetProperty("completed").GetInt32());
        var ingestion = server.Model.EmbeddingRequests;
        Assert.NotEmpty(ingestion);
        Assert.All(ingestion, r => Assert.Equal(("/v1/embeddings", Model, Dimensions), (r.Path, r.Model, r.Dimensions)));
        var inputs = ingestion.SelectMany(r => r.Inputs).ToList();
        Assert.Contains(inputs, i => i.StartsWith("pets.txt", StringComparison.Ordinal) && i.Contains("daily walk", StringComparison.Ordinal));
        Assert.Contains(inputs, i => i.StartsWith("taxes.txt", StringComparison.Ordinal) && i.Contains("Quarterly tax", StringComparison.Ordinal));
        var projectId = server.Services.GetRequiredService<DevMode>().ProjectId;
        Assert.Equal(new ChunkStoreModel(Model, Dimensions),
            await server.Services.GetRequiredService<IChunkIndex>().GetEmbeddingModelAsync(projectId, id, CancellationToken.None));

        var search = await server.OkAsync(server.PostAsync($"vector_stores/{id}/search", """{"query":"xylophone"}"""));

        var first = search.GetProperty("data")[0];
        Assert.Equal(pets, first.GetProperty("file_id").GetString());
        Assert.Contains("daily walk", first.GetProperty("content")[0].GetProperty("text").GetString(), StringComparison.Ordinal);
        var query = server.Model.EmbeddingRequests[^1];
        Assert.Equal(["xylophone"], query.Inputs);
        Assert.Equal(Model, query.Model);
    }

    [Fact]
    public async Task UpstreamFailure_FailsTheFileWithServerError_AndTheStoreKeepsWorking()
    {
        await using var server = await FileSearchServer.StartAsync(null, false, UpstreamArgs);
        server.Model.EmbeddingFunction = FakeEmbedding;
        server.Model.FailEmbeddingsWith(Reply.Error(500, "upstream exploded"));
        var taxes = await server.UploadAsync("taxes.txt", Encoding.UTF8.GetBytes(Taxes));
        var id = (await server.OkAsync(server.PostAsync("vector_stores", $$"""{"file_ids":["{{taxes}}"]}"""))).GetProperty("id").GetString()!;

        var failed = await server.WaitUntilDoneAsync($"vector_stores/{id}/files/{taxes}");

        Assert.Equal("failed", failed.GetProperty("status").GetString());
        var error = failed.GetProperty("last_error");
        Assert.Equal("server_error", error.GetProperty("code").GetString());
        Assert.Contains("embedding model could not embed the file", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("HTTP 500", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(2, server.Model.EmbeddingRequests.Count);

        // The provider recovers: a new file completes and the failed one can be added again.
        server.Model.FailEmbeddingsWith(null);
        var pets = await server.UploadAsync("pets.txt", Encoding.UTF8.GetBytes(Pets));
        await server.OkAsync(server.PostAsync($"vector_stores/{id}/files", $$"""{"file_id":"{{pets}}"}"""));
        Assert.Equal("completed", (await server.WaitUntilDoneAsync($"vector_stores/{id}/files/{pets}")).GetProperty("status").GetString());
        var counts = (await server.OkAsync(server.GetAsync($"vector_stores/{id}"))).GetProperty("file_counts");
        Assert.Equal((1, 1), (counts.GetProperty("completed").GetInt32(), counts.GetProperty("failed").GetInt32()));
        await server.OkAsync(server.PostAsync($"vector_stores/{id}/files", $$"""{"file_id":"{{taxes}}"}"""));
        Assert.Equal("completed", (await server.WaitUntilDoneAsync($"vector_stores/{id}/files/{taxes}")).GetProperty("status").GetString());
        var search = await server.OkAsync(server.PostAsync($"vector_stores/{id}/search", """{"query":"quarterly tax returns"}"""));
        Assert.Equal(taxes, search.GetProperty("data")[0].GetProperty("file_id").GetString());
    }

    [Fact]
    public async Task LocalModelStore_UnderUpstreamConfig_IsSearchedByKeywordsAndRefusesNewFiles()
    {
        var directory = Path.Combine(Path.GetTempPath(), "threadloom-embed-" + Guid.NewGuid().ToString("N"));
        string storeId, leave;
        await using (var local = await FileSearchServer.StartAsync(directory, keepData: true))
        {
            leave = await local.UploadScenarioFileAsync("HR/contoso-medical_leave.txt");
            storeId = (await local.OkAsync(local.PostAsync("vector_stores", $$"""{"file_ids":["{{leave}}"]}"""))).GetProperty("id").GetString()!;
            Assert.Equal("completed", (await local.WaitUntilDoneAsync($"vector_stores/{storeId}")).GetProperty("status").GetString());
            Assert.Empty(local.Model.EmbeddingRequests);
        }

        await using var upstream = await FileSearchServer.StartAsync(directory, false, UpstreamArgs);

        var search = await upstream.OkAsync(upstream.PostAsync($"vector_stores/{storeId}/search", """{"query":"medical leave"}"""));
        Assert.Equal(leave, search.GetProperty("data")[0].GetProperty("file_id").GetString());
        Assert.Empty(upstream.Model.EmbeddingRequests);

        var pets = await upstream.UploadAsync("pets.txt", Encoding.UTF8.GetBytes(Pets));
        await upstream.OkAsync(upstream.PostAsync($"vector_stores/{storeId}/files", $$"""{"file_id":"{{pets}}"}"""));
        var refused = await upstream.WaitUntilDoneAsync($"vector_stores/{storeId}/files/{pets}");
        Assert.Equal("failed", refused.GetProperty("status").GetString());
        Assert.Equal("server_error", refused.GetProperty("last_error").GetProperty("code").GetString());
        Assert.Contains($"was built with embedding model '{MiniLmEmbeddingGenerator.Int8ModelId}', not '{Model}'",
            refused.GetProperty("last_error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Empty(upstream.Model.EmbeddingRequests);
        var again = await upstream.OkAsync(upstream.PostAsync($"vector_stores/{storeId}/search", """{"query":"medical leave"}"""));
        Assert.Equal(leave, again.GetProperty("data")[0].GetProperty("file_id").GetString());
    }

    [Theory]
    [InlineData("Embeddings:Provider 'nope' is not one of Inference:Providers (default)", "--Embeddings:Provider", "nope", "--Embeddings:Model", Model)]
    [InlineData("Embeddings:Model is required when Embeddings:Provider is set", "--Embeddings:Provider", "default")]
    [InlineData("Embeddings:Provider is required when several providers are configured (default, second)",
        "--Embeddings:Model", Model, "--Inference:Providers:second:BaseUrl", "http://127.0.0.1:9/v1")]
    [InlineData("Dimensions", "--Embeddings:Provider", "default", "--Embeddings:Model", Model, "--Embeddings:Dimensions", "-1")]
    public async Task Misconfiguration_FailsStartup(string expected, params string[] args)
    {
        var directory = Path.Combine(Path.GetTempPath(), "threadloom-embed-" + Guid.NewGuid().ToString("N"));
        try
        {
            var builder = ThreadloomApp.CreateBuilder([
                "--urls", "http://127.0.0.1:0",
                "--Server:DataDirectory", directory,
                "--Inference:Providers:default:BaseUrl", "http://127.0.0.1:9/v1",
                .. args,
            ]);
            builder.Logging.ClearProviders();
            await using var app = await ThreadloomApp.BuildAsync(builder);

            var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());

            Assert.Equal(typeof(EmbeddingsOptions), error.OptionsType);
            Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        }
        finally
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // SQLite may still hold the file briefly; the temp folder is cleaned by the OS.
            }
        }
    }
}
