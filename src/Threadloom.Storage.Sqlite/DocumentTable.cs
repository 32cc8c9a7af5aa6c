using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Data.Sqlite;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;

namespace Threadloom.Storage.Sqlite;

/// <summary>
/// The shared mechanics of a table that stores one aggregate as a JSON document plus filter columns:
/// find, update, delete and cursor paging, all scoped by project. Each store adds its own columns and filters.
/// </summary>
internal sealed class DocumentTable<T>(SqliteDatabase database, string table, JsonTypeInfo<T> typeInfo)
    where T : class, IProjectScoped
{
    public SqliteDatabase Database => database;

    public string Serialize(T value) => JsonSerializer.Serialize(value, typeInfo);

    public T Deserialize(string json) => JsonSerializer.Deserialize(json, typeInfo)!;

    public async Task<T?> FindAsync(string projectId, string id, string? extraFilter, CancellationToken cancellationToken, params (string, object?)[] extra)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var json = (string?)await connection.ScalarAsync(
            $"SELECT data FROM {table} WHERE id = $id AND project_id = $p {extraFilter}", null, cancellationToken,
            [("$id", id), ("$p", projectId), .. extra]);
        return json is null ? null : Deserialize(json);
    }

    public Task<bool> UpdateAsync(T value, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) => await c.ExecuteAsync(
            $"UPDATE {table} SET data = $d WHERE id = $id AND project_id = $p", t, cancellationToken,
            ("$d", Serialize(value)), ("$id", value.Id), ("$p", value.ProjectId)) == 1, cancellationToken);

    public Task<bool> DeleteAsync(string projectId, string id, string? extraFilter, CancellationToken cancellationToken, params (string, object?)[] extra) =>
        database.WriteAsync(async (c, t) => await c.ExecuteAsync(
            $"DELETE FROM {table} WHERE id = $id AND project_id = $p {extraFilter}", t, cancellationToken,
            [("$id", id), ("$p", projectId), .. extra]) == 1, cancellationToken);

    /// <summary>
    /// Pages on <c>seq</c>. <c>after</c> and <c>before</c> must name a row inside the same filtered collection.
    /// A <c>before</c> page is read in reverse and flipped, so it holds the rows just before the cursor.
    /// </summary>
    public async Task<Page<T>> ListAsync(string projectId, PageRequest page, string? filter, CancellationToken cancellationToken, params (string, object?)[] filterParameters)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var where = $"project_id = $p {filter}";
        (string, object?)[] parameters = [("$p", projectId), .. filterParameters];

        var conditions = new List<string>();
        var reverse = false;
        if (page.After is { } after)
        {
            var seq = await SeqOfAsync(connection, where, parameters, "after", after, cancellationToken);
            conditions.Add(page.Ascending ? $"seq > {seq}" : $"seq < {seq}");
        }
        if (page.Before is { } before)
        {
            var seq = await SeqOfAsync(connection, where, parameters, "before", before, cancellationToken);
            conditions.Add(page.Ascending ? $"seq < {seq}" : $"seq > {seq}");
            reverse = page.After is null;
        }
        var ascending = page.Ascending != reverse;
        var sql = $"SELECT data FROM {table} WHERE {where} {string.Concat(conditions.Select(c => " AND " + c))} " +
                  $"ORDER BY seq {(ascending ? "ASC" : "DESC")} LIMIT {page.Limit + 1}";
        var rows = await connection.QueryAsync(sql, r => r.GetString(0), cancellationToken, parameters);
        var hasMore = rows.Count > page.Limit;
        var items = rows.Take(page.Limit).Select(Deserialize).ToList();
        if (reverse)
        {
            items.Reverse();
        }
        return new Page<T>(items, hasMore);
    }

    private async Task<long> SeqOfAsync(SqliteConnection connection, string where, (string, object?)[] parameters, string name, string id, CancellationToken cancellationToken) =>
        await connection.ScalarAsync($"SELECT seq FROM {table} WHERE {where} AND id = $cursor", null, cancellationToken, [.. parameters, ("$cursor", id)]) is long seq
            ? seq
            : throw new UnknownCursorException(name, id);
}
