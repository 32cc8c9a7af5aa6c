using Threadloom.Core.Storage;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.Threads;

/// <summary>
/// The thread lock: while a run is active on a thread (queued, in progress, waiting for tool outputs or cancelling),
/// no message may be added and no other run started. Starting a run checks atomically in the run store; this guard
/// serves message creation.
/// </summary>
public class ThreadGuard(IRunStore runs)
{
    public virtual async Task EnsureNoActiveRunAsync(string projectId, string threadId, CancellationToken cancellationToken)
    {
        if (await runs.FindActiveAsync(projectId, threadId, cancellationToken) is { } active)
        {
            throw ApiErrors.InvalidRequest($"Can't add messages to {threadId} while a run {active.Id} is active.");
        }
    }

    /// <summary>OpenAI's answer to a second run on a busy thread.</summary>
    public static ApiException ActiveRunError(string threadId, string runId) =>
        ApiErrors.InvalidRequest($"Thread {threadId} already has an active run {runId}.");
}
