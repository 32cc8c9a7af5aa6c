using System.Text.Json;
using Threadloom.Core.Domain;
using Threadloom.Core.Runs;
using Threadloom.Core.Storage;
using Threadloom.Core.Workers;

namespace Threadloom.Storage.Sqlite;

/// <summary>
/// Runs over the <c>runs</c> table. The <c>status</c> column mirrors the document's status so optimistic updates and
/// the worker's claims are single statements; SQLite serialises writers, so a read and its updates in one write are the claim.
/// </summary>
public sealed class SqliteRunStore(SqliteDatabase database) : IRunStore
{
    internal static readonly string ActiveStatuses = RunTransitions.ActiveStatusesSql;
    private readonly DocumentTable<Run> _table = new(database, "runs", DomainJson.Default.Run);
    private readonly SqliteUnitOfWork _unitOfWork = new(database);

    public Task<string?> TryCreateAsync(Run run, IReadOnlyList<ThreadMessage> additionalMessages, CancellationToken cancellationToken) =>
        _unitOfWork.CreateRunAsync(run, additionalMessages, async ct => (await FindActiveAsync(run.ProjectId, run.ThreadId, ct))?.Id, cancellationToken);

    public Task<Run?> FindAsync(string projectId, string threadId, string id, CancellationToken cancellationToken) =>
        _table.FindAsync(projectId, id, "AND thread_id = $t", cancellationToken, ("$t", threadId));

    public async Task<Run?> FindByIdAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ScalarAsync("SELECT data FROM runs WHERE id = $id", null, cancellationToken, ("$id", id)) is string json ? _table.Deserialize(json) : null;
    }

    public Task<Page<Run>> ListAsync(string projectId, string threadId, PageRequest page, CancellationToken cancellationToken) =>
        _table.ListAsync(projectId, page, "AND thread_id = $t", cancellationToken, ("$t", threadId));

    public Task<bool> UpdateAsync(Run run, RunStatus expectedStatus, IReadOnlyList<RunStep>? steps, CancellationToken cancellationToken) =>
        _unitOfWork.UpdateRunAsync(run, expectedStatus, steps, cancellationToken);

    /// <summary>The claim and the start in one write of the single writer: read the oldest claimable rows, start each with <see cref="RunTransitions.Apply"/>.</summary>
    public Task<IReadOnlyList<ClaimedRun>> ClaimAsync(string nodeId, int max, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken) =>
        database.WriteAsync<IReadOnlyList<ClaimedRun>>(async (c, t) =>
        {
            var rows = await c.QueryAsync(
                "SELECT seq, data FROM runs WHERE status = 'queued' AND (locked_by IS NULL OR locked_until < $now) ORDER BY seq LIMIT $max", t,
                r => (Seq: r.GetInt64(0), Data: r.GetString(1)), cancellationToken, ("$now", now.ToUnixTimeMilliseconds()), ("$max", max));
            var claimed = new List<ClaimedRun>(rows.Count);
            foreach (var (seq, data) in rows)
            {
                var queued = _table.Deserialize(data);
                var started = RunTransitions.Apply(queued, RunStatus.InProgress, now);
                await c.ExecuteAsync("UPDATE runs SET status = $s, locked_by = $n, locked_until = $u, data = $d WHERE seq = $seq", t, cancellationToken,
                    ("$s", RunTransitions.WireName(started.Status)), ("$n", nodeId), ("$u", (now + lease).ToUnixTimeMilliseconds()),
                    ("$d", JsonSerializer.Serialize(started, DomainJson.Default.Run)), ("$seq", seq));
                claimed.Add(new ClaimedRun(started, queued.StartedAt is not null));
            }
            return claimed;
        }, cancellationToken);

    public Task<RunStatus?> RenewLeaseAsync(string runId, string nodeId, DateTimeOffset lockedUntil, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            var rows = await c.QueryAsync("UPDATE runs SET locked_until = $u WHERE id = $id AND locked_by = $n RETURNING status", t,
                r => r.GetString(0), cancellationToken, ("$u", lockedUntil.ToUnixTimeMilliseconds()), ("$id", runId), ("$n", nodeId));
            return rows.Count == 0 ? null : RunTransitions.Parse(rows[0]);
        }, cancellationToken);

    public Task<IReadOnlyList<Run>> FindLapsedAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        QueryRunsAsync("SELECT data FROM runs WHERE status IN ('in_progress','cancelling') AND locked_by IS NOT NULL AND locked_until < $now ORDER BY seq",
            cancellationToken, ("$now", now.ToUnixTimeMilliseconds()));

    public Task<IReadOnlyList<Run>> RecoverPreviousLivesAsync(LeaseHolder holder, CancellationToken cancellationToken) =>
        // substr, not LIKE: a configured node id may hold '%' or '_'.
        QueryRunsAsync("SELECT data FROM runs WHERE status IN ('in_progress','cancelling') AND locked_by IS NOT NULL " +
            "AND substr(locked_by, 1, length($prefix)) = $prefix AND locked_by <> $holder ORDER BY seq", cancellationToken,
            ("$prefix", holder.NodePrefix), ("$holder", holder.Value));

    public async Task<Run?> FindActiveAsync(string projectId, string threadId, CancellationToken cancellationToken)
    {
        var active = await QueryRunsAsync($"SELECT data FROM runs WHERE project_id = $p AND thread_id = $t AND status IN {ActiveStatuses} ORDER BY seq LIMIT 1",
            cancellationToken, ("$p", projectId), ("$t", threadId));
        return active.Count == 0 ? null : active[0];
    }

    public Task<IReadOnlyList<Run>> FindExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        QueryRunsAsync("SELECT data FROM runs WHERE status = 'requires_action' AND expires_at < $now ORDER BY seq",
            cancellationToken, ("$now", now.ToUnixTimeMilliseconds()));

    private async Task<IReadOnlyList<Run>> QueryRunsAsync(string sql, CancellationToken cancellationToken, params (string, object?)[] parameters)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync(sql, r => r.GetString(0), cancellationToken, parameters);
        return rows.Select(_table.Deserialize).ToList();
    }
}

/// <summary>Run steps over the <c>run_steps</c> table.</summary>
public sealed class SqliteRunStepStore(SqliteDatabase database) : IRunStepStore
{
    private readonly DocumentTable<RunStep> _table = new(database, "run_steps", DomainJson.Default.RunStep);

    public Task CreateAsync(RunStep step, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            await new SqliteStoreWriter(c, t).UpsertStepAsync(step, cancellationToken);
            return true;
        }, cancellationToken);

    public Task<bool> UpdateAsync(RunStep step, CancellationToken cancellationToken) => _table.UpdateAsync(step, cancellationToken);

    public Task<RunStep?> FindAsync(string projectId, string threadId, string runId, string id, CancellationToken cancellationToken) =>
        _table.FindAsync(projectId, id, "AND thread_id = $t AND run_id = $r", cancellationToken, ("$t", threadId), ("$r", runId));

    public Task<Page<RunStep>> ListAsync(string projectId, string threadId, string runId, PageRequest page, CancellationToken cancellationToken) =>
        _table.ListAsync(projectId, page, "AND thread_id = $t AND run_id = $r", cancellationToken, ("$t", threadId), ("$r", runId));

    public async Task<IReadOnlyList<RunStep>> ListAllAsync(string runId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync("SELECT data FROM run_steps WHERE run_id = $r ORDER BY seq", r => r.GetString(0), cancellationToken, ("$r", runId));
        return rows.Select(_table.Deserialize).ToList();
    }

    public async Task<string?> FindLastRunWithBuiltInCallAsync(string projectId, string threadId, string toolName, int lookBackRuns, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync(
            """
            SELECT run_id, data FROM run_steps
            WHERE project_id = $p AND thread_id = $t AND data LIKE $like
              AND run_id IN (SELECT id FROM runs WHERE project_id = $p AND thread_id = $t ORDER BY seq DESC LIMIT $n)
            ORDER BY seq DESC
            """,
            r => (RunId: r.GetString(0), Data: r.GetString(1)), cancellationToken,
            ("$p", projectId), ("$t", threadId), ("$like", BuiltInCallSteps.LikePattern(toolName)), ("$n", lookBackRuns));
        return rows.FirstOrDefault(row => BuiltInCallSteps.Made(_table.Deserialize(row.Data), toolName)).RunId;
    }
}
