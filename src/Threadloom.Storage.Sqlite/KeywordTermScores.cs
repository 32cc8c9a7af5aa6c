using Microsoft.Data.Sqlite;

namespace Threadloom.Storage.Sqlite;

/// <summary>
/// Each frequent query term's bm25 contribution to every row of its project's FTS table, kept in memory, so that the
/// keyword fast path can rank on every term of a question without FTS5 scoring the tens of thousands of rows a
/// frequent term matches on every search (issue #11: at 100,000 chunks, dropping those terms lost 0.16–0.31 of keyword
/// recall@5, and scoring them in FTS5 cost 70–88 ms).
/// </summary>
/// <remarks>
/// <para>
/// Exact, not an estimate: FTS5's bm25 is a sum over the query's phrases of IDF × a saturated term frequency, with the
/// row length and the table's average length the same for every phrase, so the score of a query is the score of its
/// rare terms (ranked by FTS5) plus each frequent term's own one-term score for that row. An entry holds one term's
/// rows in rowid order with that score, read once from FTS5 and valid until the project's next write
/// (<see cref="KeywordStatistics.Writes"/>): a write changes every row's score a little and adds or removes rows.
/// </para>
/// <para>
/// Loads never run on a search: a search uses the fresh entries it finds, asks for the missing ones, and drops those
/// terms as before. One loader at a time reads the asked terms on its own connection; the entries are bounded by bytes
/// (least recently used dropped first), keyed by the project's table, so one project's entries never score another's.
/// This relies on every write to the database going through this process (SQLite is single-node, DESIGN §3), as the
/// cached document frequencies do.
/// </para>
/// </remarks>
internal sealed class KeywordTermScores(SqliteDatabase database, long budgetBytes)
{
    /// <summary>How many terms may wait for the loader; asks past it are dropped (asked again by a later search).</summary>
    private const int MaxPending = 4_096;

    internal sealed class Entry(long writes, long[] rows, float[] scores, KeywordStatistics? owner = null)
    {
        /// <summary>The project's statistics it was read under: an entry is only ever used for that project.</summary>
        public KeywordStatistics? Owner { get; } = owner;
        public long Writes { get; } = writes;
        public long[] Rows { get; } = rows;
        public float[] Scores { get; } = scores;
        public double MaxScore { get; } = scores.Length == 0 ? 0 : scores.Max();
        public long Bytes => 64 + Rows.Length * (sizeof(long) + sizeof(float));
    }

    private readonly Lock _lock = new();
    // Least recently used last: a hit moves its node first, eviction takes the last, both O(1) (entries can number
    // in the hundreds of thousands at the bound, so a scan for the oldest per eviction would not be linear).
    private readonly Dictionary<(string Table, string Term), LinkedListNode<((string Table, string Term) Key, Entry Entry)>> _entries = [];
    private readonly LinkedList<((string Table, string Term) Key, Entry Entry)> _recency = new();
    private readonly Queue<(KeywordStatistics Statistics, string Table, string Term)> _pending = new();
    private readonly HashSet<(string Table, string Term)> _asked = [];
    private long _bytes;
    private Task _loader = Task.CompletedTask;

    /// <summary>
    /// The fresh entry of <paramref name="term"/>, or null after asking for it to be loaded. A term in half the rows
    /// or more has an entry with no rows: FTS5 gives such a term an IDF of 1e-6, so it adds nothing. Nothing is asked
    /// within <paramref name="quietAfterWrite"/> of the project's last write: a project being written to would make
    /// every load stale at once, and the loader would read the same rows again and again.
    /// </summary>
    public Entry? Find(KeywordStatistics statistics, string table, string term, TimeSpan quietAfterWrite)
    {
        var writes = statistics.Writes;
        var quiet = statistics.LastWriteTicks == long.MinValue || Environment.TickCount64 - statistics.LastWriteTicks >= quietAfterWrite.TotalMilliseconds;
        lock (_lock)
        {
            if (_entries.TryGetValue((table, term), out var node) && node.Value.Entry.Owner == statistics && node.Value.Entry.Writes == writes)
            {
                _recency.Remove(node);
                _recency.AddFirst(node);
                return node.Value.Entry;
            }
            if (quiet && _pending.Count < MaxPending && _asked.Add((table, term)))
            {
                _pending.Enqueue((statistics, table, term));
                if (_loader.IsCompleted)
                {
                    _loader = Task.Run(LoadPendingAsync);
                }
            }
            return null;
        }
    }

    /// <summary>Completes once every term asked for so far is loaded (or failed); for tests and the benchmark.</summary>
    internal async Task WhenLoadedAsync()
    {
        while (true)
        {
            Task loader;
            lock (_lock)
            {
                if (_pending.Count == 0 && _loader.IsCompleted)
                {
                    return;
                }
                loader = _loader;
            }
            await loader;
        }
    }

    internal int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    private async Task LoadPendingAsync()
    {
        while (true)
        {
            (KeywordStatistics Statistics, string Table, string Term) next;
            lock (_lock)
            {
                if (!_pending.TryDequeue(out next))
                {
                    return;
                }
            }
            try
            {
                var entry = await LoadAsync(next.Statistics, next.Table, next.Term);
                lock (_lock)
                {
                    if (entry is not null)
                    {
                        Store((next.Table, next.Term), entry);
                    }
                }
            }
            catch (Exception e) when (e is SqliteException or InvalidOperationException or ObjectDisposedException)
            {
                // A table dropped or a database closed under the loader: the term stays uncached and is asked again.
            }
            finally
            {
                lock (_lock)
                {
                    _asked.Remove((next.Table, next.Term));
                }
            }
        }
    }

    /// <summary>The term's one-term bm25 score of every row it matches; null when a write raced the read.</summary>
    private async Task<Entry?> LoadAsync(KeywordStatistics statistics, string table, string term)
    {
        var writes = statistics.Writes;
        await using var connection = await database.OpenAsync(CancellationToken.None);
        var total = await statistics.IndexedChunksAsync(connection, CancellationToken.None);
        var rows = new List<long>();
        var scores = new List<float>();
        // Same weights as the ranking passes (text 1.0, context 0.5, store_token 0); FTS5 returns rows in rowid order.
        await using (var command = connection.Command($"SELECT rowid, -bm25({table}, 1.0, 0.5, 0.0) FROM {table} WHERE {table} MATCH $t", null, ("$t", term)))
        await using (var reader = await command.ExecuteReaderAsync(CancellationToken.None))
        {
            while (await reader.ReadAsync(CancellationToken.None))
            {
                rows.Add(reader.GetInt64(0));
                scores.Add((float)reader.GetDouble(1));
            }
        }
        if (statistics.Writes != writes)
        {
            return null;
        }
        if (rows.Count * 2L >= total)
        {
            return new Entry(writes, [], [], statistics);
        }
        var rowArray = rows.ToArray();
        var scoreArray = scores.ToArray();
        if (rowArray.Zip(rowArray.Skip(1)).Any(p => p.First >= p.Second))
        {
            Array.Sort(rowArray, scoreArray); // FTS5 gives rowid order; the merge depends on it
        }
        return new Entry(writes, rowArray, scoreArray, statistics);
    }

    private void Store((string Table, string Term) key, Entry entry)
    {
        if (_entries.Remove(key, out var old))
        {
            _recency.Remove(old);
            _bytes -= old.Value.Entry.Bytes;
        }
        if (entry.Bytes > budgetBytes)
        {
            return;
        }
        _entries[key] = _recency.AddFirst((key, entry));
        _bytes += entry.Bytes;
        while (_bytes > budgetBytes)
        {
            var oldest = _recency.Last!;
            _recency.RemoveLast();
            _entries.Remove(oldest.Value.Key);
            _bytes -= oldest.Value.Entry.Bytes;
        }
    }

    /// <summary>
    /// The best <paramref name="depth"/> rows of <paramref name="ranked"/> (rows with their score over the other terms)
    /// and <paramref name="terms"/> together, each row scored by the sum of its scores, best first (ties by id).
    /// </summary>
    /// <remarks>
    /// MaxScore (Turtle and Flood): the lists are ordered by their best score, and once the worst of the best rows so
    /// far beats what the weakest lists could add up to together, a row found only in those lists cannot enter. From
    /// then on only the other lists are walked, and the weak ones are probed by binary search for the rows found. So a
    /// frequent, low-IDF term's long list is mostly skipped. Scores are never negative (bm25 with FTS5's IDF floor).
    /// </remarks>
    public static List<(long Id, double Score)> Merge(List<(long Id, double Score)> ranked, IReadOnlyList<Entry> terms, int depth)
    {
        var lists = new List<Postings>(terms.Count + 1);
        if (ranked.Count > 0)
        {
            var sorted = ranked.OrderBy(r => r.Id).ToArray();
            var scores = sorted.Select(r => r.Score).ToArray();
            lists.Add(new Postings(sorted.Select(r => r.Id).ToArray(), null, scores, scores.Max()));
        }
        lists.AddRange(terms.Where(t => t.Rows.Length > 0).Select(t => new Postings(t.Rows, t.Scores, null, t.MaxScore)));
        lists.Sort((a, b) => a.Max.CompareTo(b.Max));
        var upTo = new double[lists.Count]; // the sum of the best scores of lists[0..i]
        for (var i = 0; i < lists.Count; i++)
        {
            upTo[i] = (i > 0 ? upTo[i - 1] : 0) + Math.Max(0, lists[i].Max);
        }
        var at = new int[lists.Count];
        var best = new PriorityQueue<long, (double Score, long NegatedId)>(depth + 1);
        var weak = 0; // lists[..weak] are only probed
        var threshold = double.NegativeInfinity;
        while (true)
        {
            // The smallest row id at the head of a walked list: the lists are few (at most the cap on cached terms,
            // plus one), so a scan of the heads costs less than a heap.
            var row = long.MaxValue;
            for (var i = weak; i < lists.Count; i++)
            {
                if (at[i] < lists[i].Rows.Length && lists[i].Rows[at[i]] < row)
                {
                    row = lists[i].Rows[at[i]];
                }
            }
            if (row == long.MaxValue)
            {
                break;
            }
            var score = 0.0;
            for (var i = weak; i < lists.Count; i++)
            {
                if (at[i] < lists[i].Rows.Length && lists[i].Rows[at[i]] == row)
                {
                    score += lists[i].Score(at[i]);
                    at[i]++;
                }
            }
            if (weak > 0)
            {
                if (best.Count == depth && score + upTo[weak - 1] < threshold - Slack(threshold))
                {
                    continue;
                }
                for (var i = weak - 1; i >= 0; i--)
                {
                    var rows = lists[i].Rows;
                    var found = at[i] < rows.Length ? Array.BinarySearch(rows, at[i], rows.Length - at[i], row) : ~rows.Length;
                    at[i] = found >= 0 ? found : ~found;
                    if (found >= 0)
                    {
                        score += lists[i].Score(at[i]);
                        at[i]++;
                    }
                }
            }
            var priority = (score, -row);
            if (best.Count < depth)
            {
                best.Enqueue(row, priority);
            }
            else if (best.TryPeek(out _, out var worst) && Comparer<(double, long)>.Default.Compare(priority, worst) > 0)
            {
                best.EnqueueDequeue(row, priority);
            }
            if (best.Count == depth && best.TryPeek(out _, out var last))
            {
                threshold = last.Score;
                while (weak < lists.Count && upTo[weak] < threshold - Slack(threshold))
                {
                    weak++;
                }
            }
        }
        var result = new List<(long Id, double Score)>(best.Count);
        while (best.TryDequeue(out var id, out var p))
        {
            result.Add((id, p.Score));
        }
        result.Reverse();
        return result;
    }

    /// <summary>A margin for the bounds: sums taken in another order may differ in their last bits, and a tie must never be cut.</summary>
    private static double Slack(double threshold) => 1e-9 * Math.Max(1, Math.Abs(threshold));

    private readonly record struct Postings(long[] Rows, float[]? Floats, double[]? Doubles, double Max)
    {
        public double Score(int i) => Floats is { } f ? f[i] : Doubles![i];
    }
}
