namespace Threadloom.Server.Features.Playground;

/// <summary><c>POST /playground/api/render</c>: texts to render as HTML, each with its citation ranges.</summary>
public sealed class RenderRequest
{
    public List<RenderItem?>? Items { get; init; }
}

public sealed class RenderItem
{
    public string? Text { get; init; }

    /// <summary>Ranges of <see cref="Text"/> (the annotations' <c>start_index</c>/<c>end_index</c>) shown as citation buttons, by position in this list.</summary>
    public List<CitationRange?>? Citations { get; init; }
}

public sealed class CitationRange
{
    public int StartIndex { get; init; }

    public int EndIndex { get; init; }
}

public sealed record RenderResponse(IReadOnlyList<string> Html);
