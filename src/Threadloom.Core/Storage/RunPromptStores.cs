namespace Threadloom.Core.Storage;

/// <summary>
/// One model call of a run as the model received it: the prompt after truncation, with the tools offered. Written by
/// the run engine just before the call; read by the playground's run inspector (issue #13).
/// </summary>
/// <param name="Turn">1 for the run's first model call, then 2, 3, … (each tool loop calls the model again).</param>
/// <param name="Document">A JSON object (see <c>Runs.Prompts.RunPromptDocument</c>); stored and returned as written.</param>
public sealed record RunPrompt(string ProjectId, string ThreadId, string RunId, int Turn, DateTimeOffset CreatedAt, string Document);

/// <summary>The prompts of runs, scoped by project like every other store.</summary>
public interface IRunPromptStore
{
    /// <summary>
    /// Stores the prompt of the run's next model call and returns its turn: one more than the run's last stored turn,
    /// 1 for its first. One executor owns a run at a time, so turns of one run are never written concurrently; a unique
    /// index on (run, turn) still refuses a duplicate.
    /// </summary>
    Task<int> AddAsync(string projectId, string threadId, string runId, DateTimeOffset createdAt, string document, CancellationToken cancellationToken);

    /// <summary>
    /// The run's prompts in turn order. Another project's run, or a run of another thread, yields an empty list:
    /// nothing distinguishes it from a run that made no model call.
    /// </summary>
    Task<IReadOnlyList<RunPrompt>> ListAsync(string projectId, string threadId, string runId, CancellationToken cancellationToken);
}
