using Threadloom.Core.Storage;

namespace Threadloom.Storage.Sqlite;

/// <summary>Run prompts over the <c>run_prompts</c> table; the turn is chosen in the insert (SQLite has one writer).</summary>
public sealed class SqliteRunPromptStore(SqliteDatabase database) : IRunPromptStore
{
    public Task<int> AddAsync(string projectId, string threadId, string runId, DateTimeOffset createdAt, string document, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            var turn = await c.ScalarAsync(
                "INSERT INTO run_prompts (project_id, thread_id, run_id, turn, created_at, document) " +
                "SELECT $p, $t, $r, COALESCE(MAX(turn), 0) + 1, $c, $d FROM run_prompts WHERE run_id = $r RETURNING turn", t, cancellationToken,
                ("$p", projectId), ("$t", threadId), ("$r", runId), ("$c", createdAt.ToUnixTimeMilliseconds()), ("$d", document));
            return Convert.ToInt32(turn, System.Globalization.CultureInfo.InvariantCulture);
        }, cancellationToken);

    public async Task<IReadOnlyList<RunPrompt>> ListAsync(string projectId, string threadId, string runId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QueryAsync(
            "SELECT turn, created_at, document FROM run_prompts WHERE project_id = $p AND thread_id = $t AND run_id = $r ORDER BY turn",
            r => new RunPrompt(projectId, threadId, runId, r.GetInt32(0), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)), r.GetString(2)),
            cancellationToken, ("$p", projectId), ("$t", threadId), ("$r", runId));
    }
}
