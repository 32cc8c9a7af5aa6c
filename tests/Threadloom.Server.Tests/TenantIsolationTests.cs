using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Threadloom.Server.Auth;
using Threadloom.Testing;

namespace Threadloom.Server.Tests;

/// <summary>Two projects with real keys: each sees the other's objects as missing, and cannot change them.</summary>
public sealed class TenantIsolationTests : IAsyncLifetime
{
    private ThreadloomServer _server = null!;
    private ApiClient _alice = null!;
    private ApiClient _bob = null!;

    public async Task InitializeAsync()
    {
        _server = await ThreadloomServer.StartAsync();
        var keys = _server.Services.GetRequiredService<ApiKeys>();
        _alice = new ApiClient(_server.CreateClient((await keys.CreateAsync("alice", "k", CancellationToken.None)).Key));
        _bob = new ApiClient(_server.CreateClient((await keys.CreateAsync("bob", "k", CancellationToken.None)).Key));
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task OtherProjectsObjects_Are404AndUnchanged()
    {
        var assistant = await _alice.CreateAsync("assistants", """{"model":"gpt-4o","name":"secret"}""");
        var aid = assistant["id"]!.GetValue<string>();
        var thread = await _alice.CreateAsync("threads", """{"messages":[{"role":"user","content":"private"}]}""");
        var tid = thread["id"]!.GetValue<string>();
        var mid = (await _alice.GetAsync($"threads/{tid}/messages")).Body!["data"]![0]!["id"]!.GetValue<string>();
        var file = await _alice.UploadAsync("secret.txt", "top secret"u8.ToArray());
        var fid = file["id"]!.GetValue<string>();

        foreach (var path in new[] { $"assistants/{aid}", $"threads/{tid}", $"threads/{tid}/messages", $"threads/{tid}/messages/{mid}", $"files/{fid}", $"files/{fid}/content" })
        {
            ErrorAssert.IsClientError(await _bob.GetAsync(path), HttpStatusCode.NotFound);
        }
        ErrorAssert.IsClientError(await _bob.PostAsync($"assistants/{aid}", """{"name":"stolen"}"""), HttpStatusCode.NotFound);
        ErrorAssert.IsClientError(await _bob.PostAsync($"threads/{tid}", """{"metadata":{"x":"y"}}"""), HttpStatusCode.NotFound);
        ErrorAssert.IsClientError(await _bob.PostAsync($"threads/{tid}/messages", """{"role":"user","content":"inject"}"""), HttpStatusCode.NotFound);
        ErrorAssert.IsClientError(await _bob.PostAsync($"threads/{tid}/messages/{mid}", """{"metadata":{"x":"y"}}"""), HttpStatusCode.NotFound);
        ErrorAssert.IsClientError(await _bob.DeleteAsync($"assistants/{aid}"), HttpStatusCode.NotFound);
        ErrorAssert.IsClientError(await _bob.DeleteAsync($"threads/{tid}/messages/{mid}"), HttpStatusCode.NotFound);
        ErrorAssert.IsClientError(await _bob.DeleteAsync($"threads/{tid}"), HttpStatusCode.NotFound);
        ErrorAssert.IsClientError(await _bob.DeleteAsync($"files/{fid}"), HttpStatusCode.NotFound);
        // Bob cannot reference Alice's file either.
        ErrorAssert.IsClientError(await _bob.PostAsync("assistants", """{"model":"m","tools":[{"type":"code_interpreter"}],"tool_resources":{"code_interpreter":{"file_ids":["FID"]}}}""".Replace("FID", fid, StringComparison.Ordinal)), HttpStatusCode.BadRequest);

        Assert.Empty((await _bob.GetAsync("assistants")).Body!["data"]!.AsArray());
        Assert.Empty((await _bob.GetAsync("threads")).Body!["data"]!.AsArray());
        Assert.Empty((await _bob.GetAsync("files")).Body!["data"]!.AsArray());

        Assert.Equal(assistant.ToJsonString(), (await _alice.GetAsync($"assistants/{aid}")).Body!.ToJsonString());
        Assert.Equal(thread.ToJsonString(), (await _alice.GetAsync($"threads/{tid}")).Body!.ToJsonString());
        Assert.Single((await _alice.GetAsync($"threads/{tid}/messages")).Body!["data"]!.AsArray());
        Assert.Equal(HttpStatusCode.OK, (await _alice.GetAsync($"files/{fid}")).Status);
    }

    [Fact]
    public async Task WrongKey_Is401WhenKeysExist()
    {
        var (status, body) = await new ApiClient(_server.CreateClient("sk-not-a-key")).GetAsync("assistants");
        ErrorAssert.IsClientError((status, body), HttpStatusCode.Unauthorized);
        Assert.Equal("invalid_api_key", body!["error"]!["code"]!.GetValue<string>());
        Assert.DoesNotContain("sk-not-a-key", body.ToJsonString(), StringComparison.Ordinal);
    }
}
