using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Threadloom.Core.Tools.CodeInterpreter;

namespace Threadloom.Sandbox.Tests;

/// <summary>All sandbox tests share the machine's 2 cores, so they run one class at a time.</summary>
[CollectionDefinition(Name)]
public sealed class SandboxCollection
{
    public const string Name = "Sandbox";
}

/// <summary>A real bubblewrap sandbox on a private work root, deleted afterwards.</summary>
public sealed class TestSandbox : IAsyncDisposable
{
    private TestSandbox(BubblewrapSandbox sandbox, CodeInterpreterOptions options)
    {
        Sandbox = sandbox;
        Options = options;
    }

    public BubblewrapSandbox Sandbox { get; }
    public CodeInterpreterOptions Options { get; }

    public static TestSandbox Create(Action<CodeInterpreterOptions>? configure = null)
    {
        var options = new CodeInterpreterOptions
        {
            WorkRoot = Path.Combine(Path.GetTempPath(), "tl-sandbox-tests-" + Guid.NewGuid().ToString("N")),
            WarmPoolSize = 0,
            PreloadModules = [],
            MemoryBytes = 1L << 30,
            MaxProcesses = 32,
            MaxFileSizeBytes = 8L << 20,
            ExecutionTimeout = TimeSpan.FromSeconds(60),
        };
        configure?.Invoke(options);
        var sandbox = new BubblewrapSandbox(Microsoft.Extensions.Options.Options.Create(options), NullLogger<BubblewrapSandbox>.Instance, TimeProvider.System);
        return new TestSandbox(sandbox, options);
    }

    public Task<CodeExecutionResult> RunAsync(string session, string code, params SandboxInputFile[] files) =>
        RunAsync(session, code, files, CancellationToken.None);

    public Task<CodeExecutionResult> RunAsync(string session, string code, IReadOnlyList<SandboxInputFile> files, CancellationToken cancellationToken) =>
        Sandbox.ExecuteAsync(new CodeExecutionRequest(session, code, files, new ExecutionAudit("proj_test", session, "run_test"), Outputs), cancellationToken);

    /// <summary>Where outputs are stored (in memory; the tests' outputs are small).</summary>
    public MemorySink Outputs { get; } = new();

    /// <summary>The stored content of an output.</summary>
    public byte[] ContentOf(SandboxOutputFile file) => Outputs.Stored[file.FileId!];

    public static SandboxInputFile TextFile(string name, string content) =>
        new(name, _ => Task.FromResult<Stream>(new MemoryStream(Encoding.UTF8.GetBytes(content))));

    public async ValueTask DisposeAsync()
    {
        await Sandbox.DisposeAsync();
        if (Directory.Exists(Options.WorkRoot))
        {
            Directory.Delete(Options.WorkRoot, recursive: true);
        }
    }
}

/// <summary>An output sink that keeps what it is given in memory, as the tool's blob store would on disk.</summary>
public sealed class MemorySink : ISandboxOutputSink
{
    private int _next;

    public System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> Stored { get; } = new();

    public async Task<string> StoreAsync(SandboxOutputKind kind, string fileName, Stream content, long maxBytes, CancellationToken cancellationToken)
    {
        using var copy = new MemoryStream();
        await content.CopyToAsync(copy, cancellationToken);
        var id = "file-" + Interlocked.Increment(ref _next).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Stored[id] = copy.ToArray();
        return id;
    }
}
