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
        Sandbox.ExecuteAsync(new CodeExecutionRequest(session, code, files, new ExecutionAudit("proj_test", session, "run_test")), cancellationToken);

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
