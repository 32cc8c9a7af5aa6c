using System.Diagnostics;

namespace Threadloom.Core.Tools.FileSearch;

/// <summary>
/// Spans of one file search, by phase: the query embedding, each keyword list and each of its passes, the vector scan,
/// the row fetches and the fusion. Nothing is recorded unless a listener subscribes to <see cref="SourceName"/> (the
/// latency benchmark does, to split a search's time by phase; issue #11).
/// </summary>
public static class FileSearchTracing
{
    public const string SourceName = "Threadloom.FileSearch";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>Phase names (activity names).</summary>
    public static class Phases
    {
        public const string Search = "file_search";
        public const string Embed = "file_search.embed";
        public const string Keyword = "file_search.keyword";
        public const string Vector = "file_search.vector";
        public const string Fuse = "file_search.fuse";
        public const string KeywordStatistics = "chunk_index.keyword.statistics";
        public const string KeywordPass = "chunk_index.keyword.pass";
        public const string KeywordCachedTerms = "chunk_index.keyword.cached_terms";
        public const string KeywordFullQuery = "chunk_index.keyword.full_query";
        public const string VectorLoad = "chunk_index.vector.load";
        public const string VectorScan = "chunk_index.vector.scan";
        public const string RowFetch = "chunk_index.fetch";
    }

    /// <summary>A span, or null (no cost beyond the check) when nobody listens.</summary>
    public static Activity? Start(string phase) => Source.StartActivity(phase);
}
