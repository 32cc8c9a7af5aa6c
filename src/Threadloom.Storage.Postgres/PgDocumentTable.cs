using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Npgsql;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;

namespace Threadloom.Storage.Postgres;

/// <summary>
/// The shared mechanics of a table that stores one aggregate as a JSON document plus filter columns: find, update,
/// delete and cursor paging, all scoped by project. Filters name their parameters from <c>$3</c> on (<c>$1</c> is the
/// project, <c>$2</c> the id or cursor).
/// </summary>
internal sealed class PgDocumentTable<T>(PostgresDatabase database, string table, JsonTypeInfo<T> typeInfo)
    where T : class, IProjectScoped
{
    public string Serialize(T value) => JsonSerializer.Serialize(value, typeInfo);

    public T Deserialize(string json) => JsonSerializer.Deserialize(json, typeInfo)!;

    public async Task<T?> FindAsync(string projectId, string id, string? extraFilter, CancellationToken cancellationToken, params object?[] extra)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var json = (string?)await connection.ScalarAsync($"SELECT data FROM {table} WHERE project_id = $1 AND id = $2 {extraFilter}", null, cancellationToken,
            [projectId, id, .. extra]);
        return json is null ? null : Deserialize(json);
    }

    public Task<bool> UpdateAsync(T value, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) => await c.ExecuteAsync($"UPDATE {table} SET data = $3 WHERE project_id = $1 AND id = $2", t, cancellationToken,
            value.ProjectId, value.Id, Serialize(value)) == 1, cancellationToken);

    public Task<bool> DeleteAsync(string projectId, string id, string? extraFilter, CancellationToken cancellationToken, params object?[] extra) =>
        database.WriteAsync(async (c, t) => await c.ExecuteAsync($"DELETE FROM {table} WHERE project_id = $1 AND id = $2 {extraFilter}", t, cancellationToken,
            [projectId, id, .. extra]) == 1, cancellationToken);

    /// <summary>
    /// Pages on <c>seq</c>. <c>after</c> and <c>before</c> must name a row inside the same filtered collection. A
    /// <c>before</c> page is read in reverse and flipped, so it holds the rows just before the cursor.
    /// </summary>
    public async Task<Page<T>> ListAsync(string projectId, PageRequest page, string? filter, CancellationToken cancellationToken, params object?[] filterParameters)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var conditions = new List<string>();
        var reverse = false;
        if (page.After is { } after)
        {
            var seq = await SeqOfAsync(connection, filter, projectId, filterParameters, "after", after, cancellationToken);
            conditions.Add(page.Ascending ? $"seq > {seq}" : $"seq < {seq}");
        }
        if (page.Before is { } before)
        {
            var seq = await SeqOfAsync(connection, filter, projectId, filterParameters, "before", before, cancellationToken);
            conditions.Add(page.Ascending ? $"seq < {seq}" : $"seq > {seq}");
            reverse = page.After is null;
        }
        var ascending = page.Ascending != reverse;
        // $2 is unused in a list; it is bound to null so that filters number their parameters the same way.
        var sql = $"SELECT data FROM {table} WHERE project_id = $1 AND ($2::text IS NULL) {filter} {string.Concat(conditions.Select(c => " AND " + c))} " +
                  $"ORDER BY seq {(ascending ? "ASC" : "DESC")} LIMIT {page.Limit + 1}";
        var rows = await connection.QueryAsync(sql, null, r => r.GetString(0), cancellationToken, [projectId, null, .. filterParameters]);
        var hasMore = rows.Count > page.Limit;
        var items = rows.Take(page.Limit).Select(Deserialize).ToList();
        if (reverse)
        {
            items.Reverse();
        }
        return new Page<T>(items, hasMore);
    }

    private async Task<long> SeqOfAsync(NpgsqlConnection connection, string? filter, string projectId, object?[] filterParameters, string name, string id, CancellationToken cancellationToken) =>
        await connection.ScalarAsync($"SELECT seq FROM {table} WHERE project_id = $1 AND id = $2 {filter}", null, cancellationToken, [projectId, id, .. filterParameters]) is long seq
            ? seq
            : throw new UnknownCursorException(name, id);
}
