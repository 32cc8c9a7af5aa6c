using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.ML.Tokenizers;
using Threadloom.Core.Inference;

namespace Threadloom.Core.Runs.Truncation;

/// <summary>
/// Counts prompt tokens with a tiktoken encoding. Chat overheads follow OpenAI's published accounting for chat models
/// (3 tokens per message plus 3 to prime the reply); tool definitions are counted from their JSON. The result is an
/// estimate that errs slightly high, which is the safe side for fitting a context window.
/// </summary>
public sealed class TokenCounter
{
    public const int TokensPerMessage = 3;
    public const int TokensPerName = 1;
    public const int ReplyPrimingTokens = 3;
    public const int TokensPerTool = 8;
    public const int TokensPerToolCall = 6;
    public const int TokensPerImage = 765;

    public static IReadOnlyList<string> SupportedEncodings { get; } = ["o200k_base", "cl100k_base"];

    private static readonly ConcurrentDictionary<string, Lazy<TokenCounter>> Cache = new(StringComparer.OrdinalIgnoreCase);

    private readonly Tokenizer _tokenizer;

    private TokenCounter(string encoding, Tokenizer tokenizer)
    {
        Encoding = encoding;
        _tokenizer = tokenizer;
    }

    public string Encoding { get; }

    public static bool IsSupportedEncoding(string encoding) =>
        SupportedEncodings.Contains(encoding, StringComparer.OrdinalIgnoreCase);

    /// <summary>The shared counter of <paramref name="encoding"/> (created once; thread-safe).</summary>
    /// <exception cref="ArgumentException">The encoding is not one of <see cref="SupportedEncodings"/>.</exception>
    public static TokenCounter ForEncoding(string encoding)
    {
        if (!IsSupportedEncoding(encoding))
        {
            throw new ArgumentException($"Unsupported tokenizer encoding '{encoding}'. Use one of: {string.Join(", ", SupportedEncodings)}.", nameof(encoding));
        }
        return Cache.GetOrAdd(encoding.ToLowerInvariant(),
            e => new Lazy<TokenCounter>(() => new TokenCounter(e, TiktokenTokenizer.CreateForEncoding(e)))).Value;
    }

    /// <summary>Tokens of <paramref name="text"/>; linear in its length even for one 200,000-character "word" (see <see cref="Ingestion.BoundedTokenization"/>).</summary>
    public int CountText(string? text) => string.IsNullOrEmpty(text) ? 0 : Ingestion.BoundedTokenization.CountTokens(_tokenizer, text);

    /// <summary>The longest prefix of <paramref name="text"/> that holds at most <paramref name="maxTokens"/> tokens.</summary>
    public string Prefix(string text, int maxTokens)
    {
        if (maxTokens <= 0 || text.Length == 0)
        {
            return "";
        }
        return text[..Ingestion.BoundedTokenization.PrefixLength(_tokenizer, text, maxTokens)];
    }

    /// <summary>Tokens of one message including its per-message overhead (not the reply priming).</summary>
    public int CountMessage(ChatMessage message)
    {
        var tokens = TokensPerMessage + CountText(message.Role.Value);
        if (!string.IsNullOrEmpty(message.AuthorName))
        {
            tokens += TokensPerName + CountText(message.AuthorName);
        }
        foreach (var content in message.Contents)
        {
            tokens += content switch
            {
                TextContent text => CountText(text.Text),
                FunctionCallContent call => TokensPerToolCall + CountText(call.CallId) + CountText(call.Name)
                    + CountText(JsonSerializer.Serialize(call.Arguments, AIJsonUtilities.DefaultOptions)),
                FunctionResultContent result => CountText(result.CallId) + CountText(result.Result as string
                    ?? JsonSerializer.Serialize(result.Result, AIJsonUtilities.DefaultOptions)),
                DataContent or UriContent => TokensPerImage,
                _ => 0,
            };
        }
        return tokens;
    }

    /// <summary>Tokens of a whole prompt: every message plus the reply priming.</summary>
    public int CountMessages(IEnumerable<ChatMessage> messages) => messages.Sum(CountMessage) + ReplyPrimingTokens;

    /// <summary>Tokens the tool definitions add to the prompt.</summary>
    public int CountTools(IReadOnlyList<ModelTool> tools)
    {
        var tokens = 0;
        foreach (var tool in tools)
        {
            tokens += TokensPerTool + CountText(tool.Name) + CountText(tool.Description)
                + (tool.ParametersSchema is { } schema ? CountText(schema.GetRawText()) : 0);
        }
        return tokens;
    }
}
