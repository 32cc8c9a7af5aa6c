using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Threadloom.Core.Storage;
using Threadloom.Core.Storage.Blobs;
using Threadloom.Testing;

namespace Threadloom.Server.Tests;

/// <summary>Issue #10 §3: multipart uploads, file <c>expires_after</c>, and vector store <c>expires_after: null</c>.</summary>
public sealed class UploadsAndExpiryTests : IAsyncLifetime
{
    private readonly ManualTimeProvider _clock = new();
    private ThreadloomServer _server = null!;
    private ApiClient _api = null!;

    public async Task InitializeAsync()
    {
        _server = await ThreadloomServer.StartAsync(
            new Dictionary<string, string?> { ["Files:ExpirySweepInterval"] = "00:00:00.100", ["Files:MaxUploadPartBytes"] = "65536" },
            services => services.AddSingleton<TimeProvider>(_clock));
        _api = new ApiClient(_server.CreateClient());
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<string> CreateUploadAsync(long bytes, string extra = "")
    {
        var upload = await _api.CreateAsync("uploads", $$"""{"filename":"notes.txt","purpose":"assistants","bytes":{{bytes}},"mime_type":"text/plain"{{extra}}}""");
        Assert.Equal("upload", upload["object"]!.GetValue<string>());
        Assert.Equal("pending", upload["status"]!.GetValue<string>());
        Assert.Equal(upload["created_at"]!.GetValue<long>() + 3600, upload["expires_at"]!.GetValue<long>());
        return upload["id"]!.GetValue<string>();
    }

    private async Task<(HttpStatusCode Status, JsonNode? Body)> AddPartAsync(string uploadId, byte[] data, string field = "data")
    {
        using var form = new MultipartFormDataContent();
        var content = new ByteArrayContent(data);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(content, field, "blob");
        using var response = await _api.Http.PostAsync($"uploads/{uploadId}/parts", form);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    private async Task<string> PartAsync(string uploadId, byte[] data)
    {
        var (status, body) = await AddPartAsync(uploadId, data);
        Assert.True(status == HttpStatusCode.OK, body?.ToJsonString());
        Assert.Equal("upload.part", body!["object"]!.GetValue<string>());
        Assert.Equal(uploadId, body["upload_id"]!.GetValue<string>());
        return body["id"]!.GetValue<string>();
    }

    private string BlobPath(byte[] content)
    {
        var key = Convert.ToHexStringLower(SHA256.HashData(content));
        return Path.Combine(_server.DataDirectory, "blobs", key[..2], key[2..]);
    }

    [Fact]
    public async Task Upload_PartsInCompletionOrder_MakeOneFile_WithMd5Checked()
    {
        var first = Encoding.UTF8.GetBytes("alpha-");
        var second = Encoding.UTF8.GetBytes("beta-");
        var third = Encoding.UTF8.GetBytes("gamma");
        var whole = first.Concat(second).Concat(third).ToArray();
        var uploadId = await CreateUploadAsync(whole.Length);
        // Parts may arrive in any order; part_ids gives the order of the file.
        var p3 = await PartAsync(uploadId, third);
        var p1 = await PartAsync(uploadId, first);
        var p2 = await PartAsync(uploadId, second);
        var md5 = Md5Hex(whole);

        var completed = await _api.CreateAsync($"uploads/{uploadId}/complete", $$"""{"part_ids":["{{p1}}","{{p2}}","{{p3}}"],"md5":"{{md5}}"}""");

        Assert.Equal("completed", completed["status"]!.GetValue<string>());
        var file = completed["file"]!;
        Assert.Equal("file", file["object"]!.GetValue<string>());
        Assert.Equal("notes.txt", file["filename"]!.GetValue<string>());
        Assert.Equal(whole.Length, file["bytes"]!.GetValue<long>());
        using var download = await _api.Http.GetAsync($"files/{file["id"]!.GetValue<string>()}/content");
        Assert.Equal(whole, await download.Content.ReadAsByteArrayAsync());
        // The staged parts are gone once the file exists.
        Assert.False(Directory.Exists(Path.Combine(_server.DataDirectory, "uploads", uploadId)));
        ErrorAssert.IsClientError(await _api.PostAsync($"uploads/{uploadId}/cancel"), HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task UploadComplete_TotalNotTheDeclaredBytes_400_AndNothingStored()
    {
        var uploadId = await CreateUploadAsync(10);
        var part = await PartAsync(uploadId, Encoding.UTF8.GetBytes("short"));

        ErrorAssert.IsClientError(await _api.PostAsync($"uploads/{uploadId}/complete", $$"""{"part_ids":["{{part}}"]}"""), HttpStatusCode.BadRequest, "part_ids");
        ErrorAssert.IsClientError(await _api.PostAsync($"uploads/{uploadId}/complete", """{"part_ids":["part_unknown"]}"""), HttpStatusCode.BadRequest, "part_ids[0]");
        Assert.False(File.Exists(BlobPath(Encoding.UTF8.GetBytes("short"))));
    }

    [Fact]
    public async Task UploadComplete_WrongMd5_400_AndTheBlobIsCollectedAfterItsGracePeriod()
    {
        var data = Encoding.UTF8.GetBytes("checksummed content");
        var uploadId = await CreateUploadAsync(data.Length);
        var part = await PartAsync(uploadId, data);

        ErrorAssert.IsClientError(await _api.PostAsync($"uploads/{uploadId}/complete", $$"""{"part_ids":["{{part}}"],"md5":"00000000000000000000000000000000"}"""),
            HttpStatusCode.BadRequest, "md5");

        // The error path leaves the bytes alone (issue #9 §3: another upload of the same bytes may be about to commit);
        // the collector takes them once the grace period has passed and nothing references them.
        Assert.Equal(1, (await CollectPastGracePeriodAsync()).Count);
        Assert.False(File.Exists(BlobPath(data)));
    }

    [Fact]
    public async Task UploadComplete_WrongMd5_LeavesTheUploadPending_AndTheRightOneCompletesIt()
    {
        var data = Encoding.UTF8.GetBytes("checksummed content, second try");
        var uploadId = await CreateUploadAsync(data.Length);
        var part = await PartAsync(uploadId, data);

        ErrorAssert.IsClientError(await _api.PostAsync($"uploads/{uploadId}/complete", $$"""{"part_ids":["{{part}}"],"md5":"00000000000000000000000000000000"}"""),
            HttpStatusCode.BadRequest, "md5");

        var completed = await _api.CreateAsync($"uploads/{uploadId}/complete", $$"""{"part_ids":["{{part}}"],"md5":"{{Md5Hex(data)}}"}""");
        Assert.Equal("completed", completed["status"]!.GetValue<string>());
        // Referenced now: a sweep past the grace period keeps it.
        await CollectPastGracePeriodAsync();
        Assert.True(File.Exists(BlobPath(data)));
    }

    [Fact]
    public async Task UploadPart_PastDeclaredBytes_OrPartLimit_OrUnknownField_400()
    {
        var uploadId = await CreateUploadAsync(100);
        await PartAsync(uploadId, new byte[60]);

        var (status, body) = await AddPartAsync(uploadId, new byte[60]);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("exceed", body!["error"]!["message"]!.GetValue<string>());
        var big = await CreateUploadAsync(200_000);
        Assert.Equal(HttpStatusCode.BadRequest, (await AddPartAsync(big, new byte[70_000])).Status);
        var unknown = await AddPartAsync(uploadId, new byte[1], field: "file");
        Assert.Equal(HttpStatusCode.BadRequest, unknown.Status);
        Assert.Equal("file", unknown.Body!["error"]!["param"]!.GetValue<string>());
        // Refused parts leave no staged bytes behind: only the accepted one remains.
        Assert.Single(Directory.GetFiles(Path.Combine(_server.DataDirectory, "uploads", uploadId)));
    }

    [Fact]
    public async Task UploadCancel_DropsParts_ThenNoMoreParts()
    {
        var uploadId = await CreateUploadAsync(4);
        await PartAsync(uploadId, new byte[2]);

        var cancelled = await _api.CreateAsync($"uploads/{uploadId}/cancel", "{}");

        Assert.Equal("cancelled", cancelled["status"]!.GetValue<string>());
        Assert.False(Directory.Exists(Path.Combine(_server.DataDirectory, "uploads", uploadId)));
        Assert.Equal(HttpStatusCode.BadRequest, (await AddPartAsync(uploadId, new byte[2])).Status);
    }

    [Fact]
    public async Task Upload_AfterAnHour_IsExpired_AndItsPartsAreCollected()
    {
        var uploadId = await CreateUploadAsync(4);
        await PartAsync(uploadId, new byte[2]);

        _clock.Advance(TimeSpan.FromMinutes(61));

        Assert.Equal(HttpStatusCode.BadRequest, (await AddPartAsync(uploadId, new byte[2])).Status);
        ErrorAssert.IsClientError(await _api.PostAsync($"uploads/{uploadId}/cancel"), HttpStatusCode.BadRequest);
        await WaitUntilAsync(() => !Directory.Exists(Path.Combine(_server.DataDirectory, "uploads", uploadId)));
    }

    [Theory]
    [InlineData("""{"filename":"a.txt","purpose":"assistants","bytes":1}""", "mime_type")]
    [InlineData("""{"filename":"a.txt","purpose":"user_data","bytes":1,"mime_type":"text/plain"}""", "purpose")]
    [InlineData("""{"filename":"a.txt","purpose":"assistants","bytes":1,"mime_type":"text/plain","colour":"red"}""", "colour")]
    [InlineData("""{"filename":"a.txt","purpose":"assistants","bytes":99999999999999,"mime_type":"text/plain"}""", "bytes")]
    [InlineData("""{"filename":"a.txt","purpose":"assistants","bytes":1,"mime_type":"text/plain","expires_after":{"anchor":"created_at","seconds":60}}""", "expires_after.seconds")]
    public async Task UploadCreate_Invalid_400WithParam(string body, string param)
    {
        ErrorAssert.IsClientError(await _api.PostAsync("uploads", body), HttpStatusCode.BadRequest, param);
    }

    [Fact]
    public async Task FileExpiresAfter_SetsExpiresAt_ThenTheFileDisappears_AndItsBytesAreCollected()
    {
        var bytes = Encoding.UTF8.GetBytes("short-lived " + Guid.NewGuid());
        using var form = new MultipartFormDataContent
        {
            { new StringContent("assistants"), "purpose" },
            { new StringContent("created_at"), "expires_after[anchor]" },
            { new StringContent("3600"), "expires_after[seconds]" },
        };
        form.Add(new ByteArrayContent(bytes), "file", "temp.txt");
        using var response = await _api.Http.PostAsync("files", form);
        var file = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.True(response.IsSuccessStatusCode, file.ToJsonString());
        var id = file["id"]!.GetValue<string>();
        Assert.Equal(file["created_at"]!.GetValue<long>() + 3600, file["expires_at"]!.GetValue<long>());
        Assert.True(File.Exists(BlobPath(bytes)));

        _clock.Advance(TimeSpan.FromSeconds(3601));

        ErrorAssert.IsClientError(await _api.GetAsync($"files/{id}"), HttpStatusCode.NotFound);
        ErrorAssert.IsClientError(await _api.GetAsync($"files/{id}/content"), HttpStatusCode.NotFound);
        Assert.DoesNotContain((await _api.GetAsync("files")).Body!["data"]!.AsArray(), f => f!["id"]!.GetValue<string>() == id);
        // The expiry sweep deletes the row; the bytes go with the collector's next sweep past the grace period.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (File.Exists(BlobPath(bytes)))
        {
            await CollectPastGracePeriodAsync();
            await Task.Delay(50, timeout.Token);
        }
    }

    [Theory]
    [InlineData("last_active_at", "3600", "expires_after[anchor]")]
    [InlineData("created_at", "60", "expires_after.seconds")]
    [InlineData("created_at", "2592001", "expires_after.seconds")]
    public async Task FileExpiresAfter_Invalid_400(string anchor, string seconds, string param)
    {
        using var form = new MultipartFormDataContent
        {
            { new StringContent("assistants"), "purpose" },
            { new StringContent(anchor), "expires_after[anchor]" },
            { new StringContent(seconds), "expires_after[seconds]" },
        };
        form.Add(new ByteArrayContent([1, 2, 3]), "file", "x.bin");
        using var response = await _api.Http.PostAsync("files", form);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(param == "expires_after[anchor]" ? "expires_after.anchor" : param, body["error"]!["param"]!.GetValue<string>());
    }

    [Fact]
    public async Task FileUpload_UnknownMultipartField_400()
    {
        using var form = new MultipartFormDataContent { { new StringContent("assistants"), "purpose" }, { new StringContent("x"), "colour" } };
        form.Add(new ByteArrayContent([1, 2, 3]), "file", "x.bin");
        using var response = await _api.Http.PostAsync("files", form);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("Unknown parameter: 'colour'.", body["error"]!["message"]!.GetValue<string>());
        Assert.Equal("colour", body["error"]!["param"]!.GetValue<string>());
    }

    [Fact]
    public async Task VectorStoreModify_ExpiresAfterNull_ClearsTheExpiry_AbsentKeepsIt()
    {
        var store = await _api.CreateAsync("vector_stores", """{"name":"short","expires_after":{"anchor":"last_active_at","days":2}}""");
        var id = store["id"]!.GetValue<string>();
        Assert.NotNull(store["expires_at"]);

        var renamed = await _api.CreateAsync($"vector_stores/{id}", """{"name":"renamed"}""");
        Assert.Equal(2, renamed["expires_after"]!["days"]!.GetValue<int>());

        var cleared = await _api.CreateAsync($"vector_stores/{id}", """{"expires_after":null}""");
        Assert.Null(cleared["expires_after"]);
        Assert.Null(cleared["expires_at"]);
        Assert.Null((await _api.GetAsync($"vector_stores/{id}")).Body!["expires_after"]);
    }

    /// <summary>The upload API's <c>md5</c> is OpenAI's integrity checksum, not a security measure.</summary>
#pragma warning disable CA5351
    private static string Md5Hex(byte[] data) => Convert.ToHexStringLower(MD5.HashData(data));
#pragma warning restore CA5351

    /// <summary>Moves the clock past <c>Storage:BlobGracePeriod</c> and runs one collector sweep.</summary>
    private async Task<BlobSweep> CollectPastGracePeriodAsync()
    {
        var options = _server.Services.GetRequiredService<IOptions<StorageOptions>>().Value;
        _clock.Advance(options.BlobGracePeriod + TimeSpan.FromSeconds(1));
        return await _server.Services.GetRequiredService<BlobCollector>().CollectOnceAsync(CancellationToken.None);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(50, timeout.Token);
        }
    }
}
