using System.Text;

namespace Threadloom.Core.Ingestion;

/// <summary>Accumulates extracted text while recording where pages and headings start.</summary>
internal sealed class DocumentBuilder
{
    private readonly StringBuilder _text = new();
    private readonly List<DocumentPage> _pages = [];
    private readonly List<DocumentHeading> _headings = [];

    public string? Title { get; set; }

    public int Length => _text.Length;

    public void StartPage(int number)
    {
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
        _headings.Add(new DocumentHeading(_text.Length, level, text));
        _text.Append(text).Append('\n');
    }

    public void AppendLine(string line) => _text.Append(line).Append('\n');

    public void Append(string text) => _text.Append(text);

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
