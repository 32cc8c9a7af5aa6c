using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Threadloom.Storage.Sqlite;

/// <summary>
/// Document frequencies of query terms and the row count of one project's FTS table, cached in process and dropped
/// once writes since the last fill exceed a tenth of the table. The numbers only steer which terms the fast keyword
/// path matches on and how deep it ranks; scores always come from FTS5's bm25 over the same (project's) table.
/// </summary>
internal sealed class KeywordStatistics(string projectId, string table)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (long Df, bool Exact)> _df = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _storeRows = new(StringComparer.Ordinal);
    private long _writes; // store-count writes seen: a count read across one is not kept
    private const int MaxCachedStores = 10_000;
    private long _total = -1;
    private long _churn;
    private long _lastWriteTicks = long.MinValue;

    /// <summary>
    /// Each term's document frequency, counted up to <paramref name="cap"/>: a term matching more rows is reported as
    /// <paramref name="cap"/> with <c>Exact</c> false. Counting walks the term's rows, so on a large table an exact
    /// count of a frequent term costs milliseconds (12 ms p50 per search at 100,000 chunks, issue #11), while the
    /// fast path only needs to know that it is over its budget.
    /// </summary>
    public async Task<List<(string Term, long Df, bool Exact)>> DocumentFrequenciesAsync(SqliteConnection connection, List<string> terms, long cap, CancellationToken cancellationToken)
    {
        var result = new List<(string, long, bool)>(terms.Count);
        List<string>? missing = null;
        lock (_lock)
        {
            foreach (var term in terms)
            {
                // A capped count answers a request whose cap it reaches; otherwise the term is counted again.
                if (_df.TryGetValue(term, out var df) && (df.Exact || df.Df >= cap))
                {
                    result.Add(df.Exact || df.Df < cap ? (term, df.Df, df.Exact) : (term, cap, false));
                }
                else
                {
                    (missing ??= []).Add(term);
                }
            }
        }
        if (missing is not null)
        {
            var capped = cap < long.MaxValue;
            await using var count = connection.Command(capped
                ? $"SELECT COUNT(*) FROM (SELECT rowid FROM {table} WHERE {table} MATCH $t LIMIT $cap)"
                : $"SELECT COUNT(*) FROM {table} WHERE {table} MATCH $t", null, ("$t", ""), ("$cap", capped ? cap : 0));
            var found = new List<(string, long, bool)>(missing.Count);
            foreach (var term in missing)
            {
                count.Parameters["$t"].Value = term;
                var df = Convert.ToInt64(await count.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
                found.Add((term, df, !capped || df < cap));
            }
            result.AddRange(found);
            lock (_lock)
            {
                foreach (var (term, df, exact) in found)
                {
                    _df[term] = (df, exact);
                }
            }
        }
        return result;
    }

    /// <summary>The number of the project's indexed chunks (the rows of its FTS table).</summary>
    public async Task<long> IndexedChunksAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_total >= 0)
            {
                return _total;
            }
        }
        var total = (await connection.QueryAsync("SELECT COALESCE(SUM(chunk_count), 0) FROM chunk_files WHERE project_id = $p", r => r.GetInt64(0), cancellationToken, ("$p", projectId)))[0];
        lock (_lock)
        {
            if (_total < 0)
            {
                _total = total;
            }
        }
        return total;
    }

    /// <summary>
    /// The chunks of one vector store, kept until a write to that store (summing the rows of a store's files took
    /// about 2 ms per search at 8,000 files under load, issue #11). The count only sets how deep the fast keyword path
    /// ranks, so even a stale count would cost speed, not correctness; a count read while a write was noted is not kept.
    /// </summary>
    public async Task<long> StoreChunksAsync(SqliteConnection connection, string vectorStoreId, CancellationToken cancellationToken)
    {
        long writes;
        lock (_lock)
        {
            if (_storeRows.TryGetValue(vectorStoreId, out var cached))
            {
                return cached;
            }
            writes = _writes;
        }
        var rows = (await connection.QueryAsync("SELECT COALESCE(SUM(chunk_count), 0) FROM chunk_files WHERE vector_store_id = $vs AND project_id = $p",
            r => r.GetInt64(0), cancellationToken, ("$vs", vectorStoreId), ("$p", projectId)))[0];
        lock (_lock)
        {
            if (_writes == writes)
            {
                if (_storeRows.Count >= MaxCachedStores)
                {
                    _storeRows.Clear();
                }
                _storeRows.TryAdd(vectorStoreId, rows);
            }
        }
        return rows;
    }

    /// <summary>How many writes to the project were noted: anything read from its table is current while this holds.</summary>
    public long Writes
    {
        get
        {
            lock (_lock)
            {
                return _writes;
            }
        }
    }

    /// <summary>When the last write was noted (<see cref="Environment.TickCount64"/>; <see cref="long.MinValue"/> before any).</summary>
    public long LastWriteTicks
    {
        get
        {
            lock (_lock)
            {
                return _lastWriteTicks;
            }
        }
    }

    public void NoteWrite(string vectorStoreId, long rows)
    {
        lock (_lock)
        {
            _lastWriteTicks = Environment.TickCount64;
            _storeRows.Remove(vectorStoreId);
            _writes++;
            _churn += rows;
            if (_total >= 0 && _churn * 10 > Math.Max(_total, 100))
            {
                _df.Clear();
                _total = -1;
                _churn = 0;
            }
        }
    }
}
