namespace Threadloom.Core.Tools.FileSearch;

/// <summary>Common English function words, dropped from keyword queries and from rewritten queries.</summary>
public static class StopWords
{
    private static readonly HashSet<string> Words = new(StringComparer.Ordinal)
    {
        "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how", "i", "if", "in", "into", "is", "it",
        "its", "my", "of", "on", "or", "that", "the", "their", "there", "this", "to", "was", "what", "when", "where", "which", "who",
        "why", "will", "with", "you", "your", "me", "we", "our", "should", "would", "could", "about", "any", "some", "than", "then",
    };

    /// <summary>Whether a lower-case word is a stop word.</summary>
    public static bool Contains(string lowerCaseWord) => Words.Contains(lowerCaseWord);

    /// <summary>Every stop word, lower-case.</summary>
    public static IReadOnlyCollection<string> All => Words;
}
