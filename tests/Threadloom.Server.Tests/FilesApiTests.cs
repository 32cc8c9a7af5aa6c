using System.Net;
using System.Net.Http.Headers;

namespace Threadloom.Server.Tests;

public sealed class FilesApiTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private readonly ApiClient _api = fixture.Api;

    [Fact]
    public async Task Upload_ListRetrieveDownloadDelete()
    {
        var bytes = "Ticker,QTY\nAAPL,10\n"u8.ToArray();
        var file = await _api.UploadAsync("portfolio.csv", bytes);
        var id = file["id"]!.GetValue<string>();
        Assert.StartsWith("file-", id);
        Assert.Equal("file", file["object"]!.GetValue<string>());
        Assert.Equal(bytes.Length, file["bytes"]!.GetValue<long>());
        Assert.Equal("portfolio.csv", file["filename"]!.GetValue<string>());
        Assert.Equal("assistants", file["purpose"]!.GetValue<string>());

        var listed = (await _api.GetAsync("files?purpose=assistants")).Body!;
        Assert.Contains(listed["data"]!.AsArray(), f => f!["id"]!.GetValue<string>() == id);
        Assert.DoesNotContain((await _api.GetAsync("files?purpose=vision")).Body!["data"]!.AsArray(), f => f!["id"]!.GetValue<string>() == id);

        using var content = await _api.Http.GetAsync($"files/{id}/content");
        Assert.Equal("text/csv", content.Content.Headers.ContentType!.MediaType);
        Assert.Equal(bytes, await content.Content.ReadAsByteArrayAsync());

        var deleted = await _api.DeleteAsync($"files/{id}");
        Assert.Equal("file", deleted.Body!["object"]!.GetValue<string>());
        Assert.True(deleted.Body!["deleted"]!.GetValue<bool>());
        ErrorAssert.IsClientError(await _api.DeleteAsync($"files/{id}"), HttpStatusCode.NotFound);
        ErrorAssert.IsClientError(await _api.GetAsync($"files/{id}/content"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Upload_WithoutFile_400()
    {
        using var form = new MultipartFormDataContent { { new StringContent("assistants"), "purpose" } };
        await AssertRejectedAsync(form, HttpStatusCode.BadRequest, "file");
    }

    [Fact]
    public async Task Upload_WithoutPurpose_400AndNoFileRow()
    {
        var filesBefore = (await _api.GetAsync("files")).Body!["data"]!.AsArray().Count;
        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent("unique content without purpose"u8.ToArray()), "file", "a.txt");
        await AssertRejectedAsync(form, HttpStatusCode.BadRequest, "purpose");
        // Its blob is left to the collector (BlobLifetimeTests): another upload may share it.
        Assert.Equal(filesBefore, (await _api.GetAsync("files")).Body!["data"]!.AsArray().Count);
    }

    [Fact]
    public async Task Upload_BadPurpose_400()
    {
        using var form = new MultipartFormDataContent { { new StringContent("nonsense"), "purpose" } };
        form.Add(new ByteArrayContent([1, 2, 3]), "file", "a.bin");
        await AssertRejectedAsync(form, HttpStatusCode.BadRequest, "purpose");
    }

    [Fact]
    public async Task Upload_OverLimit_413AndNothingOnDisk()
    {
        var before = BlobFiles();
        using var form = new MultipartFormDataContent { { new StringContent("assistants"), "purpose" } };
        var big = new ByteArrayContent(new byte[1024 * 1024 + 10]);
        big.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(big, "file", "big.bin");
        var filesBefore = (await _api.GetAsync("files")).Body!["data"]!.AsArray().Count;
        await AssertRejectedAsync(form, HttpStatusCode.RequestEntityTooLarge, "file");
        Assert.Equal(before, BlobFiles());
        Assert.Equal(filesBefore, (await _api.GetAsync("files")).Body!["data"]!.AsArray().Count);
    }

    [Fact]
    public async Task Upload_NotMultipart_400()
    {
        ErrorAssert.IsClientError(await _api.PostAsync("files", """{"purpose":"assistants"}"""), HttpStatusCode.BadRequest);
    }

    private List<string> BlobFiles()
    {
        var root = Path.Combine(fixture.Server.DataDirectory, "blobs");
        return Directory.Exists(root)
            ? Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList()
            : [];
    }

    private async Task AssertRejectedAsync(MultipartFormDataContent form, HttpStatusCode status, string param)
    {
        using var response = await _api.Http.PostAsync("files", form);
        var body = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync());
        ErrorAssert.IsClientError((response.StatusCode, body), status, param);
    }
}
