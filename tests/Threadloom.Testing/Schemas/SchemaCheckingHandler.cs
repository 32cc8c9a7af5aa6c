using System.Text;
using System.Text.Json.Nodes;

namespace Threadloom.Testing.Schemas;

/// <summary>
/// An <see cref="HttpClient"/> handler that checks every JSON response and every SSE event the server sends against
/// the spec of the request's dialect (<see cref="OpenApiSchemas.V1"/> or <see cref="OpenApiSchemas.V2"/>), so each
/// test that talks to the server through such a client is also a conformance test of every body it sees.
/// </summary>
/// <remarks>
/// Design notes: the dialect is read off the request as a client chooses it, independently of the server's code:
/// <c>OpenAI-Beta: assistants=v1</c>, or on <c>/openai</c> an api-version of <see cref="V1ApiVersions"/>. A JSON body
/// is checked against the schema the spec gives the operation's response (errors against <c>ErrorResponse</c>);
/// operations the spec does not have (<c>/models</c>, v1's missing message delete) are not checked. A stream is checked
/// event by event as it is read, so streaming tests keep reading incrementally.
/// </remarks>
public sealed class SchemaCheckingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    /// <summary>The Azure api-versions whose Assistants dialect is v1 (Azure's api-version-deprecation page).</summary>
    public static readonly IReadOnlySet<string> V1ApiVersions = new HashSet<string>(StringComparer.Ordinal)
    {
        "2024-01-01-preview", "2024-02-15-preview", "2024-03-01-preview", "2024-04-01-preview",
    };

    public SchemaCheckingHandler()
        : this(new HttpClientHandler())
    {
    }

    /// <summary>The number of bodies and events checked so far (tests assert that checking happened).</summary>
    public int Checked => _checked;

    private int _checked;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        if (Route(request) is not var (schemas, path))
        {
            return response;
        }
        var mediaType = response.Content.Headers.ContentType?.MediaType;
        var where = $"{request.Method} {request.RequestUri?.PathAndQuery} → {(int)response.StatusCode}";
        if (mediaType == "text/event-stream" && response.IsSuccessStatusCode)
        {
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            var checking = new StreamContent(new SseCheckingStream(stream, schemas, where, () => Interlocked.Increment(ref _checked)));
            foreach (var header in response.Content.Headers)
            {
                checking.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }
            response.Content = checking;
            return response;
        }
        if (mediaType != "application/json")
        {
            return response;
        }
        await response.Content.LoadIntoBufferAsync(cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        var schema = (int)response.StatusCode >= 400 && schemas.Names.Contains("ErrorResponse")
            ? "ErrorResponse"
            : schemas.ResponseSchemaOf(request.Method.Method, path, (int)response.StatusCode);
        if (schema is not null && text.Length > 0)
        {
            schemas.AssertValid(JsonNode.Parse(text), schema, where);
            Interlocked.Increment(ref _checked);
        }
        return response;
    }

    /// <summary>The spec of the request's dialect and its path below the API root, or null for non-API paths.</summary>
    public static (OpenApiSchemas Schemas, string Path)? Route(HttpRequestMessage request)
    {
        var uri = request.RequestUri!;
        var path = uri.AbsolutePath;
        string rest;
        var v1 = request.Headers.TryGetValues("OpenAI-Beta", out var beta) && beta.Any(b => b.Contains("assistants=v1", StringComparison.Ordinal));
        if (path.StartsWith("/v1/", StringComparison.Ordinal))
        {
            rest = path[4..];
        }
        else if (path.StartsWith("/openai/", StringComparison.Ordinal))
        {
            rest = path[8..];
            var version = System.Web.HttpUtility.ParseQueryString(uri.Query)["api-version"];
            v1 |= version is not null && V1ApiVersions.Contains(version);
        }
        else
        {
            return null;
        }
        return (v1 ? OpenApiSchemas.V1 : OpenApiSchemas.V2, rest);
    }

    /// <summary>The schema of an Assistants stream event's <c>data</c>; null for <c>done</c>.</summary>
    public static string? EventSchema(string eventName) => eventName switch
    {
        "done" => null,
        "error" => "ErrorResponse",
        "thread.created" => "ThreadObject",
        "thread.run.step.delta" => "RunStepDeltaObject",
        "thread.message.delta" => "MessageDeltaObject",
        _ when eventName.StartsWith("thread.run.step.", StringComparison.Ordinal) => "RunStepObject",
        _ when eventName.StartsWith("thread.run.", StringComparison.Ordinal) => "RunObject",
        _ when eventName.StartsWith("thread.message.", StringComparison.Ordinal) => "MessageObject",
        _ => throw new InvalidDataException($"Unknown Assistants stream event '{eventName}'."),
    };

    /// <summary>Passes the bytes through unchanged and checks each complete <c>event:/data:</c> block as it goes by.</summary>
    private sealed class SseCheckingStream(Stream inner, OpenApiSchemas schemas, string where, Action counted) : Stream
    {
        private readonly Decoder _decoder = Encoding.UTF8.GetDecoder();
        private readonly StringBuilder _pending = new();

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Inspect(buffer.AsSpan(offset, inner.Read(buffer, offset, count)));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken);
            return Inspect(buffer.Span[..read]);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int Inspect(ReadOnlySpan<byte> bytes)
        {
            var chars = new char[_decoder.GetCharCount(bytes, flush: false)];
            _decoder.GetChars(bytes, chars, flush: false);
            _pending.Append(chars);
            var text = _pending.ToString();
            int end;
            while ((end = text.IndexOf("\n\n", StringComparison.Ordinal)) >= 0)
            {
                Check(text[..end]);
                text = text[(end + 2)..];
            }
            _pending.Clear().Append(text);
            return bytes.Length;
        }

        private void Check(string block)
        {
            string? name = null;
            var data = new StringBuilder();
            foreach (var line in block.Split('\n'))
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    name = line[7..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    data.Append(data.Length > 0 ? "\n" : "").Append(line[6..]);
                }
            }
            if (name is null || EventSchema(name) is not { } schema)
            {
                return;
            }
            schemas.AssertValid(JsonNode.Parse(data.ToString()), schema, $"{where}, event {name}");
            counted();
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
