using System.Text.Json;
using Microsoft.Data.Sqlite;
using Threadloom.Core.Domain;
using Threadloom.Core.Runs;
using Threadloom.Core.Storage;

namespace Threadloom.Storage.Sqlite;

/// <summary>
/// <see cref="IUnitOfWork"/> on SQLite: the work runs as one write of <see cref="SqliteDatabase.WriteAsync{T}"/>,
/// inside its own savepoint of the group commit, so a unit that throws rolls back alone.
/// </summary>
public sealed class SqliteUnitOfWork(SqliteDatabase database) : IUnitOfWork
{
    public Task<T> ExecuteAsync<T>(Func<IStoreWriter, CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        database.WriteAsync((c, t) => work(new SqliteStoreWriter(c, t), cancellationToken), cancellationToken);
}

/// <summary>The rows several stores write, in one place: the stores and the unit of work both use it.</summary>
internal sealed class SqliteStoreWriter(SqliteConnection connection, SqliteTransaction transaction) : IStoreWriter
{
    public async Task InsertThreadAsync(AssistantThread thread, CancellationToken cancellationToken) =>
        await connection.ExecuteAsync("INSERT INTO threads (id, project_id, data) VALUES ($id, $p, $d)", transaction, cancellationToken,
            ("$id", thread.Id), ("$p", thread.ProjectId), ("$d", JsonSerializer.Serialize(thread, DomainJson.Default.AssistantThread)));

    public async Task InsertMessageAsync(ThreadMessage message, CancellationToken cancellationToken) =>
        await connection.ExecuteAsync("INSERT INTO messages (id, project_id, thread_id, run_id, data) VALUES ($id, $p, $t, $r, $d)", transaction, cancellationToken,
            ("$id", message.Id), ("$p", message.ProjectId), ("$t", message.ThreadId), ("$r", message.RunId),
            ("$d", JsonSerializer.Serialize(message, DomainJson.Default.ThreadMessage)));

    public async Task<bool> UpdateMessageAsync(ThreadMessage message, CancellationToken cancellationToken) =>
        await connection.ExecuteAsync("UPDATE messages SET data = $d WHERE id = $id AND project_id = $p", transaction, cancellationToken,
            ("$d", JsonSerializer.Serialize(message, DomainJson.Default.ThreadMessage)), ("$id", message.Id), ("$p", message.ProjectId)) == 1;

    public async Task WriteMessageAsync(ThreadMessage message, CancellationToken cancellationToken) => await UpdateMessageAsync(message, cancellationToken);

    public async Task UpsertStepAsync(RunStep step, CancellationToken cancellationToken) =>
        await connection.ExecuteAsync(
            "INSERT INTO run_steps (id, project_id, thread_id, run_id, data) VALUES ($id, $p, $t, $r, $d) ON CONFLICT(id) DO UPDATE SET data = excluded.data",
            transaction, cancellationToken,
            ("$id", step.Id), ("$p", step.ProjectId), ("$t", step.ThreadId), ("$r", step.RunId), ("$d", JsonSerializer.Serialize(step, DomainJson.Default.RunStep)));

    public async Task<string?> TryInsertRunAsync(Run run, CancellationToken cancellationToken)
    {
        // ux_runs_active_thread turns a second active run into a conflict; DO NOTHING makes that a zero-row insert.
        var inserted = await connection.ExecuteAsync(
            "INSERT INTO runs (id, project_id, thread_id, status, expires_at, data) VALUES ($id, $p, $t, $s, $e, $d) ON CONFLICT DO NOTHING", transaction, cancellationToken,
            ("$id", run.Id), ("$p", run.ProjectId), ("$t", run.ThreadId), ("$s", RunTransitions.WireName(run.Status)),
            ("$e", run.ExpiresAt?.ToUnixTimeMilliseconds()), ("$d", JsonSerializer.Serialize(run, DomainJson.Default.Run)));
        if (inserted == 1)
        {
            return null;
        }
        return (string?)await connection.ScalarAsync($"SELECT id FROM runs WHERE thread_id = $t AND status IN {SqliteRunStore.ActiveStatuses} LIMIT 1", transaction, cancellationToken, ("$t", run.ThreadId))
            ?? throw new InvalidOperationException($"Run '{run.Id}' could not be inserted.");
    }

    public async Task<bool> UpdateRunAsync(Run run, RunStatus expectedStatus, CancellationToken cancellationToken)
    {
        var owned = run.Status is RunStatus.InProgress or RunStatus.Cancelling;
        var sql = "UPDATE runs SET status = $s, expires_at = $e, data = $d" +
                  (owned ? "" : ", locked_by = NULL, locked_until = NULL") +
                  " WHERE id = $id AND status = $expected";
        return await connection.ExecuteAsync(sql, transaction, cancellationToken,
            ("$s", RunTransitions.WireName(run.Status)), ("$e", run.ExpiresAt?.ToUnixTimeMilliseconds()), ("$d", JsonSerializer.Serialize(run, DomainJson.Default.Run)),
            ("$id", run.Id), ("$expected", RunTransitions.WireName(expectedStatus))) == 1;
    }

    public async Task UpdateRunOrAbandonAsync(Run run, RunStatus expectedStatus, CancellationToken cancellationToken)
    {
        if (!await UpdateRunAsync(run, expectedStatus, cancellationToken))
        {
            throw new RunStatusChangedException(run.Id);
        }
    }

    public async Task InsertRunOrAbandonAsync(Run run, CancellationToken cancellationToken)
    {
        if (await TryInsertRunAsync(run, cancellationToken) is not null)
        {
            throw new RunStatusChangedException(run.Id);
        }
    }
}
