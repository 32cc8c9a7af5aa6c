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
    private readonly Dictionary<string, long> _df = new(StringComparer.Ordinal);
    private long _total = -1;
    private long _churn;

    public async Task<List<(string Term, long Df)>> DocumentFrequenciesAsync(SqliteConnection connection, List<string> terms, CancellationToken cancellationToken)
    {
        var result = new List<(string, long)>(terms.Count);
        List<string>? missing = null;
        lock (_lock)
        {
            foreach (var term in terms)
            {
                if (_df.TryGetValue(term, out var df))
                {
                    result.Add((term, df));
                }
                else
                {
                    (missing ??= []).Add(term);
                }
            }
        }
        if (missing is not null)
        {
            await using var count = connection.Command($"SELECT COUNT(*) FROM {table} WHERE {table} MATCH $t", null, ("$t", ""));
            var found = new List<(string, long)>(missing.Count);
            foreach (var term in missing)
            {
                count.Parameters["$t"].Value = term;
                found.Add((term, Convert.ToInt64(await count.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture)));
            }
            result.AddRange(found);
            lock (_lock)
            {
                foreach (var (term, df) in found)
                {
                    _df[term] = df;
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

    public void NoteWrite(long rows)
    {
        lock (_lock)
        {
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
