using Threadloom.Core.Storage;

namespace Threadloom.Storage.Postgres;

/// <summary>
/// Run prompts over the <c>run_prompts</c> table. The turn is chosen in the insert; one executor owns a run at a time,
/// and the unique (run, turn) index refuses a duplicate should two ever race.
/// </summary>
public sealed class PostgresRunPromptStore(PostgresDatabase database) : IRunPromptStore
{
    public async Task<int> AddAsync(string projectId, string threadId, string runId, DateTimeOffset createdAt, string document, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var turn = await connection.ScalarAsync(
            "INSERT INTO run_prompts (project_id, thread_id, run_id, turn, created_at, document) " +
            "SELECT $1, $2, $3, COALESCE(MAX(turn), 0) + 1, $4, $5 FROM run_prompts WHERE run_id = $3 RETURNING turn", null, cancellationToken,
            projectId, threadId, runId, createdAt.ToUnixTimeMilliseconds(), PgCommands.NoNul(document));
        return Convert.ToInt32(turn, System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task<IReadOnlyList<RunPrompt>> ListAsync(string projectId, string threadId, string runId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QueryAsync(
            "SELECT turn, created_at, document FROM run_prompts WHERE project_id = $1 AND thread_id = $2 AND run_id = $3 ORDER BY turn", null,
            r => new RunPrompt(projectId, threadId, runId, r.GetInt32(0), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)), r.GetString(2)),
            cancellationToken, projectId, threadId, runId);
    }
}
