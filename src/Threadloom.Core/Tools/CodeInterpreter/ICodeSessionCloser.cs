namespace Threadloom.Core.Tools.CodeInterpreter;

/// <summary>
/// Ends a thread's code interpreter session on whichever node holds it. A session lives on the node that last ran
/// the thread's code (issue #12 §3), which need not be the node that serves the thread's deletion; closing it only
/// locally would leave the deleted thread's kernel and <c>/mnt/data</c> files on another node until they idled out.
/// </summary>
public interface ICodeSessionCloser
{
    /// <summary>Ends the session here, awaited, and asks every other node to end theirs; never throws for a missing session.</summary>
    Task CloseEverywhereAsync(string sessionKey, CancellationToken cancellationToken);
}

/// <summary>The single-node <see cref="ICodeSessionCloser"/>: this node's sandbox is the only one.</summary>
public sealed class LocalCodeSessionCloser(ICodeSandbox sandbox) : ICodeSessionCloser
{
    public Task CloseEverywhereAsync(string sessionKey, CancellationToken cancellationToken) =>
        sandbox.EndSessionAsync(sessionKey, cancellationToken);
}
