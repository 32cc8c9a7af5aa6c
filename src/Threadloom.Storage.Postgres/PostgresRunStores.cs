using System.Text.Json;
using Npgsql;
using Threadloom.Core.Domain;
using Threadloom.Core.Runs;
using Threadloom.Core.Storage;
using Workers = Threadloom.Core.Workers;

namespace Threadloom.Storage.Postgres;

/// <summary><see cref="IUnitOfWork"/> on PostgreSQL: one read-committed transaction on one pooled connection.</summary>
/// <remarks>
/// Design notes: a round trip to the database is what a write costs a node most (issue #12 profile: each one is a
/// send, a wake-up of a run thread and Npgsql's read path), so the writer sends statements whose result nobody reads
/// (inserts, upserts) with the next statement that is read, or with the end of the unit, in one
/// <see cref="NpgsqlBatch"/>. A unit that reads no result (a thread and its messages; a step and its message) is one
/// batch and no explicit transaction: PostgreSQL runs the statements of one batch (one Sync) in one implicit
/// transaction, so they land together or not at all. A run's conditional write is deferred too when its caller needs no
/// answer before the unit ends (<see cref="IStoreWriter.UpdateRunOrAbandonAsync"/>): it is guarded in SQL so that
/// touching no row raises (migration 0008) and rolls the batch back, which the writer reports as
/// <see cref="RunStatusChangedException"/>. So a run's transition with its steps and messages is one round trip. A unit
/// that reads a result mid-way begins a transaction, whose <c>BEGIN</c> rides on its first batch. A failure of a
/// deferred statement surfaces from <see cref="ExecuteAsync"/>, as before, with nothing written.
/// </remarks>
public sealed class PostgresUnitOfWork(PostgresDatabase database) : IUnitOfWork
{
    public async Task<T> ExecuteAsync<T>(Func<IStoreWriter, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var writer = new PostgresStoreWriter(connection);
        var result = await work(writer, cancellationToken);
        await writer.CommitAsync(cancellationToken);
        return result;
    }
}

/// <summary>The rows several stores write, in one place; see <see cref="PostgresUnitOfWork"/> for when they are sent.</summary>
internal sealed class PostgresStoreWriter(NpgsqlConnection connection) : IStoreWriter, IAsyncDisposable
{
    internal static readonly string ActiveStatuses = RunTransitions.ActiveStatusesSql;

    private readonly List<NpgsqlBatchCommand> _deferred = [];
    private NpgsqlTransaction? _transaction;

    public Task InsertThreadAsync(AssistantThread thread, CancellationToken cancellationToken) =>
        Defer("INSERT INTO threads (id, project_id, data) VALUES ($1, $2, $3)",
            thread.Id, thread.ProjectId, JsonSerializer.Serialize(thread, DomainJson.Default.AssistantThread));

    public Task InsertMessageAsync(ThreadMessage message, CancellationToken cancellationToken) =>
        Defer("INSERT INTO messages (id, project_id, thread_id, run_id, data) VALUES ($1, $2, $3, $4, $5)",
            message.Id, message.ProjectId, message.ThreadId, new NpgsqlParameter<string?> { TypedValue = message.RunId, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text },
            JsonSerializer.Serialize(message, DomainJson.Default.ThreadMessage));

    private const string UpdateMessageSql = "UPDATE messages SET data = $3 WHERE project_id = $1 AND id = $2";

    public async Task<bool> UpdateMessageAsync(ThreadMessage message, CancellationToken cancellationToken) =>
        await ExecuteAsync(UpdateMessageSql, cancellationToken, message.ProjectId, message.Id, JsonSerializer.Serialize(message, DomainJson.Default.ThreadMessage)) == 1;

    public Task WriteMessageAsync(ThreadMessage message, CancellationToken cancellationToken) =>
        Defer(UpdateMessageSql, message.ProjectId, message.Id, JsonSerializer.Serialize(message, DomainJson.Default.ThreadMessage));

    public Task UpsertStepAsync(RunStep step, CancellationToken cancellationToken) =>
        Defer("INSERT INTO run_steps (id, project_id, thread_id, run_id, data) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
            step.Id, step.ProjectId, step.ThreadId, step.RunId, JsonSerializer.Serialize(step, DomainJson.Default.RunStep));

    /// <summary>The SQLSTATE that <c>threadloom_require_rows</c> raises (migration 0008): an abandoned unit.</summary>
    internal const string AbandonedSqlState = "TL001";

    private const string InsertRunSql =
        "INSERT INTO runs (id, project_id, thread_id, status, expires_at, data) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";

    private const string UpdateOwnedRunSql = "UPDATE runs SET status = $1, expires_at = $2, data = $3 WHERE id = $4 AND status = $5";

    private const string UpdateReleasedRunSql =
        "UPDATE runs SET status = $1, expires_at = $2, data = $3, locked_by = NULL, locked_until = NULL WHERE id = $4 AND status = $5";

    /// <summary>The ids of the runs whose guarded write is deferred, in batch order: an abandoned batch names its run.</summary>
    private readonly List<string> _guarded = [];

    public Task InsertRunOrAbandonAsync(Run run, CancellationToken cancellationToken) =>
        DeferGuarded(run.Id, InsertRunSql, InsertRunParameters(run));

    public Task UpdateRunOrAbandonAsync(Run run, RunStatus expectedStatus, CancellationToken cancellationToken) =>
        DeferGuarded(run.Id, UpdateRunStatement(run), UpdateRunParameters(run, expectedStatus));

    /// <summary>
    /// Defers a write that must touch exactly one row, wrapped so that touching none raises <see cref="AbandonedSqlState"/>
    /// and so rolls back the whole batch (PostgreSQL runs a batch in one transaction, implicit or not).
    /// </summary>
    private Task DeferGuarded(string runId, string sql, object?[] parameters)
    {
        _guarded.Add(runId);
        return Defer($"WITH w AS ({sql} RETURNING 1) SELECT threadloom_require_rows(count(*)) FROM w", parameters);
    }

    private static object?[] InsertRunParameters(Run run) =>
    [
        run.Id, run.ProjectId, run.ThreadId, RunTransitions.WireName(run.Status),
        new NpgsqlParameter<long?> { TypedValue = run.ExpiresAt?.ToUnixTimeMilliseconds(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bigint },
        JsonSerializer.Serialize(run, DomainJson.Default.Run),
    ];

    private static string UpdateRunStatement(Run run) =>
        // Leaving in_progress/cancelling releases the lease.
        run.Status is RunStatus.InProgress or RunStatus.Cancelling ? UpdateOwnedRunSql : UpdateReleasedRunSql;

    private static object?[] UpdateRunParameters(Run run, RunStatus expectedStatus) =>
    [
        RunTransitions.WireName(run.Status),
        new NpgsqlParameter<long?> { TypedValue = run.ExpiresAt?.ToUnixTimeMilliseconds(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bigint },
        JsonSerializer.Serialize(run, DomainJson.Default.Run), run.Id, RunTransitions.WireName(expectedStatus),
    ];

    public async Task<string?> TryInsertRunAsync(Run run, CancellationToken cancellationToken)
    {
        // ux_runs_active_thread decides: a concurrent insert of another active run on the thread waits for this one's
        // transaction, then does nothing. DO NOTHING has no target so the partial index needs no predicate here.
        while (true)
        {
            var inserted = await ExecuteAsync(InsertRunSql, cancellationToken, InsertRunParameters(run));
            if (inserted == 1)
            {
                return null;
            }
            if (await connection.ScalarAsync($"SELECT id FROM runs WHERE thread_id = $1 AND status IN {ActiveStatuses} LIMIT 1", _transaction, cancellationToken, run.ThreadId) is string active)
            {
                return active;
            }
            // The conflicting run ended between the two statements: try again.
        }
    }

    public async Task<bool> UpdateRunAsync(Run run, RunStatus expectedStatus, CancellationToken cancellationToken) =>
        await ExecuteAsync(UpdateRunStatement(run), cancellationToken, UpdateRunParameters(run, expectedStatus)) == 1;

    /// <summary>Sends what is deferred and commits: one batch in an implicit transaction when nothing was read.</summary>
    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        if (_deferred.Count > 0)
        {
            await SendAsync(cancellationToken);
        }
        if (_transaction is not null)
        {
            await _transaction.CommitAsync(cancellationToken);
        }
    }

    /// <summary>Rolls back an open transaction (the unit threw); deferred statements were never sent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_transaction is not null)
        {
            await _transaction.DisposeAsync();
        }
    }

    private Task Defer(string sql, params object?[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var value in parameters)
        {
            command.Parameters.Add(value is NpgsqlParameter p ? p : new NpgsqlParameter { Value = value ?? DBNull.Value });
        }
        _deferred.Add(command);
        return Task.CompletedTask;
    }

    /// <summary>Runs <paramref name="sql"/> after the deferred statements, in the unit's transaction, in one round trip; its row count.</summary>
    private async Task<int> ExecuteAsync(string sql, CancellationToken cancellationToken, params object?[] parameters)
    {
        _transaction ??= await connection.BeginTransactionAsync(cancellationToken);
        await Defer(sql, parameters);
        return await SendAsync(cancellationToken);
    }

    /// <summary>Sends the deferred statements as one batch; the last one's row count.</summary>
    private async Task<int> SendAsync(CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection, _transaction);
        foreach (var command in _deferred)
        {
            batch.BatchCommands.Add(command);
        }
        _deferred.Clear();
        var guarded = _guarded.ToList();
        _guarded.Clear();
        try
        {
            await batch.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == AbandonedSqlState)
        {
            // Which guard fired is not told; any of them abandons the unit, and a unit guards one run.
            throw new RunStatusChangedException(guarded.FirstOrDefault() ?? "");
        }
        return batch.BatchCommands[^1].RecordsAffected;
    }
}

/// <summary>
/// Runs over the <c>runs</c> table. A claim is one <c>UPDATE … WHERE seq = (SELECT … FOR UPDATE SKIP LOCKED)</c>:
/// concurrent workers on any number of nodes each lock a different row, and none waits for another.
/// </summary>
public sealed class PostgresRunStore(PostgresDatabase database, IUnitOfWork unitOfWork) : IRunStore
{
    private readonly PgDocumentTable<Run> _table = new(database, "runs", DomainJson.Default.Run);

    public Task<string?> TryCreateAsync(Run run, IReadOnlyList<ThreadMessage> additionalMessages, CancellationToken cancellationToken) =>
        unitOfWork.CreateRunAsync(run, additionalMessages, async ct => (await FindActiveAsync(run.ProjectId, run.ThreadId, ct))?.Id, cancellationToken);

    public Task<Run?> FindAsync(string projectId, string threadId, string id, CancellationToken cancellationToken) =>
        _table.FindAsync(projectId, id, "AND thread_id = $3", cancellationToken, threadId);

    public async Task<Run?> FindByIdAsync(string id, CancellationToken cancellationToken) =>
        First(await QueryRunsAsync("SELECT data FROM runs WHERE id = $1", cancellationToken, id));

    private static Run? First(IReadOnlyList<Run> runs) => runs.Count == 0 ? null : runs[0];

    public Task<Page<Run>> ListAsync(string projectId, string threadId, PageRequest page, CancellationToken cancellationToken) =>
        _table.ListAsync(projectId, page, "AND thread_id = $3", cancellationToken, threadId);

    public Task<bool> UpdateAsync(Run run, RunStatus expectedStatus, IReadOnlyList<RunStep>? steps, CancellationToken cancellationToken) =>
        unitOfWork.UpdateRunAsync(run, expectedStatus, steps, cancellationToken);

    /// <summary>
    /// The claim, and the start that <see cref="RunTransitions.Apply"/> makes of a queued run, in one statement: the
    /// status, <c>started_at</c> unless the run started before, no <c>required_action</c>. The document is patched as
    /// jsonb (key order and spacing change, not the content); <c>RunStoreContract</c> holds the result to
    /// <see cref="RunTransitions.Apply"/>'s on both databases.
    /// </summary>
    private const string ClaimSql = """
        UPDATE runs r SET status = $5, locked_by = $1, locked_until = $2,
            data = ((r.data::jsonb - 'required_action')
                || jsonb_build_object('status', $5::text, 'started_at', COALESCE(NULLIF(r.data::jsonb -> 'started_at', 'null'::jsonb), $6::jsonb)))::text
        FROM (SELECT seq, NULLIF(data::jsonb -> 'started_at', 'null'::jsonb) IS NOT NULL AS resumed FROM runs
              WHERE status = 'queued' AND (locked_by IS NULL OR locked_until < $3) ORDER BY seq FOR UPDATE SKIP LOCKED LIMIT $4) c
        WHERE r.seq = c.seq
        RETURNING r.seq, r.data, c.resumed
        """;

    public Task<IReadOnlyList<ClaimedRun>> ClaimAsync(string nodeId, int max, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken) =>
        database.WriteOneStatementAsync<IReadOnlyList<ClaimedRun>>(async c =>
        {
            var rows = await c.QueryAsync(ClaimSql, null,
                r => (Seq: r.GetInt64(0), Data: r.GetString(1), Resumed: r.GetBoolean(2)), cancellationToken,
                nodeId, (now + lease).ToUnixTimeMilliseconds(), now.ToUnixTimeMilliseconds(), max,
                RunTransitions.WireName(RunStatus.InProgress), JsonTimestamp(now));
            return [.. rows.OrderBy(r => r.Seq).Select(r => new ClaimedRun(_table.Deserialize(r.Data), r.Resumed))];
        }, cancellationToken);

    /// <summary><paramref name="value"/> as a JSON string token, written as the domain documents write timestamps.</summary>
    private static string JsonTimestamp(DateTimeOffset value)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStringValue(value);
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public Task<RunStatus?> RenewLeaseAsync(string runId, string nodeId, DateTimeOffset lockedUntil, CancellationToken cancellationToken) =>
        database.WriteOneStatementAsync(async c =>
        {
            var rows = await c.QueryAsync("UPDATE runs SET locked_until = $1 WHERE id = $2 AND locked_by = $3 RETURNING status", null,
                r => r.GetString(0), cancellationToken, lockedUntil.ToUnixTimeMilliseconds(), runId, nodeId);
            return rows.Count == 0 ? (RunStatus?)null : RunTransitions.Parse(rows[0]);
        }, cancellationToken);

    public Task<IReadOnlyList<Run>> FindLapsedAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        QueryRunsAsync("SELECT data FROM runs WHERE status IN ('in_progress','cancelling') AND locked_by IS NOT NULL AND locked_until < $1 ORDER BY seq",
            cancellationToken, now.ToUnixTimeMilliseconds());

    public Task<IReadOnlyList<Run>> RecoverPreviousLivesAsync(Workers.LeaseHolder holder, CancellationToken cancellationToken) =>
        // left(), not LIKE: a configured node id may hold '%' or '_'.
        QueryRunsAsync("SELECT data FROM runs WHERE status IN ('in_progress','cancelling') AND locked_by IS NOT NULL " +
            "AND left(locked_by, length($1)) = $1 AND locked_by <> $2 ORDER BY seq", cancellationToken, holder.NodePrefix, holder.Value);

    public async Task<Run?> FindActiveAsync(string projectId, string threadId, CancellationToken cancellationToken) =>
        First(await QueryRunsAsync($"SELECT data FROM runs WHERE project_id = $1 AND thread_id = $2 AND status IN {PostgresStoreWriter.ActiveStatuses} LIMIT 1",
            cancellationToken, projectId, threadId));

    public Task<IReadOnlyList<Run>> FindExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        QueryRunsAsync("SELECT data FROM runs WHERE status = 'requires_action' AND expires_at < $1 ORDER BY seq", cancellationToken, now.ToUnixTimeMilliseconds());

    private async Task<IReadOnlyList<Run>> QueryRunsAsync(string sql, CancellationToken cancellationToken, params object?[] parameters)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync(sql, null, r => r.GetString(0), cancellationToken, parameters);
        return rows.Select(_table.Deserialize).ToList();
    }
}

/// <summary>Run steps over the <c>run_steps</c> table.</summary>
public sealed class PostgresRunStepStore(PostgresDatabase database, IUnitOfWork unitOfWork) : IRunStepStore
{
    private readonly PgDocumentTable<RunStep> _table = new(database, "run_steps", DomainJson.Default.RunStep);

    public Task CreateAsync(RunStep step, CancellationToken cancellationToken) =>
        unitOfWork.ExecuteAsync(async (w, ct) =>
        {
            await w.UpsertStepAsync(step, ct);
            return true;
        }, cancellationToken);

    public Task<bool> UpdateAsync(RunStep step, CancellationToken cancellationToken) => _table.UpdateAsync(step, cancellationToken);

    public Task<RunStep?> FindAsync(string projectId, string threadId, string runId, string id, CancellationToken cancellationToken) =>
        _table.FindAsync(projectId, id, "AND thread_id = $3 AND run_id = $4", cancellationToken, threadId, runId);

    public Task<Page<RunStep>> ListAsync(string projectId, string threadId, string runId, PageRequest page, CancellationToken cancellationToken) =>
        _table.ListAsync(projectId, page, "AND thread_id = $3 AND run_id = $4", cancellationToken, threadId, runId);

    public async Task<IReadOnlyList<RunStep>> ListAllAsync(string runId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync("SELECT data FROM run_steps WHERE run_id = $1 ORDER BY seq", null, r => r.GetString(0), cancellationToken, runId);
        return rows.Select(_table.Deserialize).ToList();
    }

    public async Task<string?> FindLastRunWithBuiltInCallAsync(string projectId, string threadId, string toolName, int lookBackRuns, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync(
            """
            SELECT run_id, data FROM run_steps
            WHERE project_id = $1 AND thread_id = $2 AND data LIKE $3
              AND run_id IN (SELECT id FROM runs WHERE project_id = $1 AND thread_id = $2 ORDER BY seq DESC LIMIT $4)
            ORDER BY seq DESC
            """,
            null, r => (RunId: r.GetString(0), Data: r.GetString(1)), cancellationToken,
            projectId, threadId, BuiltInCallSteps.LikePattern(toolName), lookBackRuns);
        return rows.FirstOrDefault(row => BuiltInCallSteps.Made(_table.Deserialize(row.Data), toolName)).RunId;
    }
}
