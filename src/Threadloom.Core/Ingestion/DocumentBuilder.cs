using System.Text;

namespace Threadloom.Core.Ingestion;

/// <summary>Accumulates extracted text while recording where pages and headings start.</summary>
internal sealed class DocumentBuilder(ExtractionBudget budget)
{
    public DocumentBuilder() : this(ExtractionBudget.Default)
    {
    }

    private readonly StringBuilder _text = new();
    private readonly List<DocumentPage> _pages = [];
    private readonly List<DocumentHeading> _headings = [];

    public string? Title { get; set; }

    public int Length => _text.Length;

    public void StartPage(int number)
    {
        if (_pages.Count >= budget.MaxPages)
        {
            throw ExtractionBudgetException.Pages(_pages.Count + 1, budget.MaxPages);
        }
        EnsureBlankLine();
        _pages.Add(new DocumentPage(number, _text.Length));
    }

    public void AppendHeading(int level, string text)
    {
        text = text.Trim();
        if (text.Length == 0)
        {
            return;
        }
        EnsureBlankLine();
        Reserve(text.Length + 1);
        _headings.Add(new DocumentHeading(_text.Length, level, text));
        _text.Append(text).Append('\n');
    }

    public void AppendLine(string line)
    {
        Reserve(line.Length + 1);
        _text.Append(line).Append('\n');
    }

    public void Append(string text)
    {
        Reserve(text.Length);
        _text.Append(text);
    }

    /// <summary>Fails the extraction before the text grows past <see cref="ExtractionBudget.MaxChars"/> (plus separators).</summary>
    private void Reserve(int chars)
    {
        if ((long)_text.Length + chars > budget.MaxChars + 2L)
        {
            throw ExtractionBudgetException.Chars(budget.MaxChars);
        }
    }

    public void EnsureBlankLine()
    {
        if (_text.Length == 0)
        {
            return;
        }
        if (_text[^1] != '\n')
        {
            _text.Append('\n');
        }
        if (_text.Length < 2 || _text[^2] != '\n')
        {
            _text.Append('\n');
        }
    }

    public ExtractedDocument Build() => new(_text.ToString().TrimEnd(), Title, _pages, _headings);
}
