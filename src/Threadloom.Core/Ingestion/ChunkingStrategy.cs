namespace Threadloom.Core.Ingestion;

/// <summary>
/// The <c>static</c> chunking strategy: windows of <see cref="MaxChunkSizeTokens"/> o200k tokens, consecutive windows
/// sharing <see cref="ChunkOverlapTokens"/> tokens. The OpenAI default (and the <c>auto</c> strategy) is 800/400.
/// </summary>
public sealed record StaticChunkingStrategy(int MaxChunkSizeTokens = 800, int ChunkOverlapTokens = 400)
{
    public const int MinChunkSize = 100;
    public const int MaxChunkSize = 4096;

    public static StaticChunkingStrategy Default { get; } = new();

    /// <summary>
    /// Checks the OpenAI limits: <c>max_chunk_size_tokens</c> in 100–4096 and <c>chunk_overlap_tokens</c> non-negative and
    /// at most half of it. Returns null when valid, otherwise a message fit for a 400 <c>invalid_request_error</c>.
    /// </summary>
    public string? Validate()
    {
        if (MaxChunkSizeTokens is < MinChunkSize or > MaxChunkSize)
        {
            return $"Invalid 'chunking_strategy.static.max_chunk_size_tokens': {MaxChunkSizeTokens}. Expected a value between {MinChunkSize} and {MaxChunkSize}.";
        }
        if (ChunkOverlapTokens < 0)
        {
            return $"Invalid 'chunking_strategy.static.chunk_overlap_tokens': {ChunkOverlapTokens}. Expected a value greater than or equal to 0.";
        }
        if (ChunkOverlapTokens > MaxChunkSizeTokens / 2)
        {
            return $"Invalid 'chunking_strategy.static.chunk_overlap_tokens': {ChunkOverlapTokens}. It must not exceed half of max_chunk_size_tokens ({MaxChunkSizeTokens / 2}).";
        }
        return null;
    }

    /// <summary>The parameter name the <see cref="Validate"/> error refers to, for the error envelope's <c>param</c>.</summary>
    public string? InvalidParameter() => Validate() is null
        ? null
        : MaxChunkSizeTokens is < MinChunkSize or > MaxChunkSize
            ? "chunking_strategy.static.max_chunk_size_tokens"
            : "chunking_strategy.static.chunk_overlap_tokens";
}
