using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Threadloom.Core.Storage.Blobs;
using Threadloom.Server.Auth;
using Threadloom.Testing;

namespace Threadloom.Server.Tests;

/// <summary>
/// Blob lifetime (issue #9 §3): content-addressed bytes shared by two files are never deleted under one of them, and
/// uploads a crash interrupted are cleared at startup. The races are driven step by step: an upload is held open
/// after its file part, so the other request runs exactly in the window where the old code lost the bytes.
/// </summary>
public sealed class BlobLifetimeTests : IAsyncLifetime
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

    private string BlobPath(byte[] content)
    {
        var key = Convert.ToHexStringLower(SHA256.HashData(content));
        return Path.Combine(_server.DataDirectory, "blobs", key[..2], key[2..]);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        for (var i = 0; i < 400 && !condition(); i++)
        {
            await Task.Delay(25);
        }
        Assert.True(condition(), "timed out waiting for the upload to reach its blob write");
    }

    private static async Task<(HttpStatusCode Status, string Body)> ReadAsync(Task<HttpResponseMessage> response)
    {
        using var r = await response;
        return (r.StatusCode, await r.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Issue9_UploadFailingValidation_WhileTheSameBytesUpload_NeverDeletesTheOtherFilesBlob()
    {
        var bytes = Encoding.UTF8.GetBytes("quarterly numbers " + Guid.NewGuid());
        // Alice's upload writes its blob, then waits before sending its purpose: her row is not committed yet.
        var held = new HeldMultipart(bytes, "report.txt", "assistants");
        var alice = _alice.Http.PostAsync("files", held);
        await WaitForAsync(() => File.Exists(BlobPath(bytes)));

        // Bob uploads the same bytes with an invalid purpose: a 400, whose error path used to delete the blob.
        using (var form = new MultipartFormDataContent { { new ByteArrayContent(bytes), "file", "copy.txt" }, { new StringContent("nonsense"), "purpose" } })
        {
            using var rejected = await _bob.Http.PostAsync("files", form);
            Assert.Equal(HttpStatusCode.BadRequest, rejected.StatusCode);
        }

        held.Release();
        var (status, body) = await ReadAsync(alice);
        Assert.Equal(HttpStatusCode.OK, status);
        var id = System.Text.Json.Nodes.JsonNode.Parse(body)!["id"]!.GetValue<string>();
        using var content = await _alice.Http.GetAsync($"files/{id}/content");
        Assert.Equal(HttpStatusCode.OK, content.StatusCode);
        Assert.Equal(bytes, await content.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Issue9_DeletingAFile_WhileTheSameBytesUpload_NeverDeletesTheUploadsBlob()
    {
        var bytes = Encoding.UTF8.GetBytes("shared slides " + Guid.NewGuid());
        var held = new HeldMultipart(bytes, "slides.txt", "assistants");
        var bob = _bob.Http.PostAsync("files", held);
        await WaitForAsync(() => File.Exists(BlobPath(bytes)));

        // Alice uploads the same bytes and deletes her file while Bob's row is still to commit.
        var aliceFile = (await _alice.UploadAsync("mine.txt", bytes))["id"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.OK, (await _alice.DeleteAsync($"files/{aliceFile}")).Status);

        held.Release();
        var (status, body) = await ReadAsync(bob);
        Assert.Equal(HttpStatusCode.OK, status);
        var id = System.Text.Json.Nodes.JsonNode.Parse(body)!["id"]!.GetValue<string>();
        using var content = await _bob.Http.GetAsync($"files/{id}/content");
        Assert.Equal(HttpStatusCode.OK, content.StatusCode);
        Assert.Equal(bytes, await content.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task FailedUpload_LeavesItsBlobToTheCollector_WhichRemovesItAfterTheGracePeriod()
    {
        var bytes = Encoding.UTF8.GetBytes("rejected " + Guid.NewGuid());
        using (var form = new MultipartFormDataContent { { new ByteArrayContent(bytes), "file", "x.txt" } })
        {
            using var rejected = await _alice.Http.PostAsync("files", form);
            Assert.Equal(HttpStatusCode.BadRequest, rejected.StatusCode);
        }
        var collector = _server.Services.GetRequiredService<BlobCollector>();
        await collector.CollectOnceAsync(CancellationToken.None);
        Assert.True(File.Exists(BlobPath(bytes)), "within the grace period the blob stays");
        var blobs = _server.Services.GetRequiredService<IBlobStore>();
        Assert.True((await blobs.CollectAsync(DateTimeOffset.UtcNow.AddMinutes(1), CancellationToken.None)).Count >= 1);
        Assert.False(File.Exists(BlobPath(bytes)));
    }

    [Fact]
    public async Task Issue9_PartialUploadsLeftByAKill_AreClearedAtStartup_AndLogged()
    {
        var directory = Path.Combine(Path.GetTempPath(), "threadloom-tests", Guid.NewGuid().ToString("N"));
        var tmp = Path.Combine(directory, "blobs", "tmp");
        Directory.CreateDirectory(tmp);
        // What four kill -9s mid-upload leave: partial temporary files that no process holds any more.
        for (var i = 0; i < 4; i++)
        {
            await File.WriteAllBytesAsync(Path.Combine(tmp, Guid.NewGuid().ToString("N")), new byte[250_000 + i]);
        }
        var logs = new LogSink();
        await using var server = await ThreadloomServer.StartAsync(configureServices: s => s.AddSingleton<ILoggerProvider>(logs), dataDirectory: directory);
        Assert.Empty(Directory.EnumerateFiles(tmp));
        Assert.Contains(logs.Messages, m => m.Contains("Cleared 4 partial blob writes (1000006 bytes)", StringComparison.Ordinal));
    }

    /// <summary>A multipart body that sends its file part, then holds the purpose part until released.</summary>
    private sealed class HeldMultipart : HttpContent
    {
        private const string Boundary = "held-boundary-1";
        private readonly byte[] _content;
        private readonly string _fileName;
        private readonly string _purpose;
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public HeldMultipart(byte[] content, string fileName, string purpose)
        {
            (_content, _fileName, _purpose) = (content, fileName, purpose);
            Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse($"multipart/form-data; boundary={Boundary}");
        }

        public void Release() => _release.TrySetResult();

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"--{Boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{_fileName}\"\r\nContent-Type: text/plain\r\n\r\n"));
            await stream.WriteAsync(_content);
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"\r\n--{Boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"));
            await stream.FlushAsync();
            await _release.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"{_purpose}\r\n--{Boundary}--\r\n"));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    private sealed class LogSink : ILoggerProvider
    {
        public System.Collections.Concurrent.ConcurrentQueue<string> Messages { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(LogSink sink) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                sink.Messages.Enqueue(formatter(state, exception));
        }
    }
}
