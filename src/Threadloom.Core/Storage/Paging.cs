namespace Threadloom.Core.Storage;

/// <summary>A cursor page request, as OpenAI lists take it: <c>limit</c>, <c>order</c>, <c>after</c>, <c>before</c>.</summary>
public sealed record PageRequest(int Limit = 20, bool Ascending = false, string? After = null, string? Before = null);

/// <summary>One page of a list, in the requested order.</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, bool HasMore);

/// <summary>Thrown when <c>after</c> or <c>before</c> names no object in the listed collection.</summary>
public sealed class UnknownCursorException(string parameter, string id)
    : Exception($"Invalid '{parameter}': no object with id '{id}' in this list.")
{
    public string Parameter { get; } = parameter;
    public string Id { get; } = id;
}
