using System.Globalization;
using Threadloom.Core.Storage;

namespace Threadloom.Server.Http;

/// <summary>The cursor list parameters (DESIGN §7): <c>limit</c> 1–100 (default 20), <c>order</c>, <c>after</c>, <c>before</c>.</summary>
public static class ListQuery
{
    public static PageRequest Parse(HttpRequest request, int maxLimit = 100, int defaultLimit = 20, bool allowBefore = true)
    {
        var query = request.Query;
        var limit = defaultLimit;
        if (query.TryGetValue("limit", out var rawLimit) && !string.IsNullOrEmpty(rawLimit))
        {
            if (!int.TryParse(rawLimit, NumberStyles.Integer, CultureInfo.InvariantCulture, out limit))
            {
                throw ApiErrors.InvalidRequest($"Invalid 'limit': expected an integer, but got '{rawLimit}' instead.", "limit", "invalid_type");
            }
            if (limit < 1)
            {
                throw ApiErrors.InvalidRequest($"Invalid 'limit': integer below minimum value. Expected a value >= 1, but got {limit} instead.", "limit", "integer_below_min_value");
            }
            if (limit > maxLimit)
            {
                throw ApiErrors.InvalidRequest($"Invalid 'limit': integer above maximum value. Expected a value <= {maxLimit}, but got {limit} instead.", "limit", "integer_above_max_value");
            }
        }
        var ascending = false;
        if (query.TryGetValue("order", out var rawOrder) && !string.IsNullOrEmpty(rawOrder))
        {
            ascending = rawOrder.ToString() switch
            {
                "asc" => true,
                "desc" => false,
                var other => throw ApiErrors.InvalidRequest($"Invalid value: '{other}'. Supported values are: 'asc' and 'desc'.", "order", "invalid_value"),
            };
        }
        var after = NonEmpty(query["after"]);
        var before = allowBefore ? NonEmpty(query["before"]) : null;
        return new PageRequest(limit, ascending, after, before);
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}

/// <summary>The OpenAI list envelope.</summary>
public sealed record ListResponse<T>(IReadOnlyList<T> Data, string? FirstId, string? LastId, bool HasMore) : IV1List
{
    public string Object => "list";

    object? IV1List.Item(int index) => Data[index];
}

public static class ListResponse
{
    public static ListResponse<TOut> From<TIn, TOut>(Page<TIn> page, Func<TIn, TOut> map, Func<TOut, string> id)
    {
        var data = page.Items.Select(map).ToList();
        return new ListResponse<TOut>(data, data.Count > 0 ? id(data[0]) : null, data.Count > 0 ? id(data[^1]) : null, page.HasMore);
    }

    /// <summary>
    /// Pages a small list held in memory (an assistant's or a message's v1 files) as the stores page a table: sorted by
    /// <paramref name="createdAt"/> then by position, <c>after</c>/<c>before</c> exclusive, an unknown cursor a 400.
    /// </summary>
    public static ListResponse<T> FromMemory<T>(IReadOnlyList<T> items, PageRequest page, Func<T, string> id, Func<T, long> createdAt)
    {
        var ordered = items.Select((item, position) => (item, position)).OrderBy(p => createdAt(p.item)).ThenBy(p => p.position).Select(p => p.item).ToList();
        if (!page.Ascending)
        {
            ordered.Reverse();
        }
        var start = 0;
        var end = ordered.Count;
        if (page.After is { } after)
        {
            start = ordered.FindIndex(i => id(i) == after) is var at and >= 0 ? at + 1 : throw new UnknownCursorException("after", after);
        }
        if (page.Before is { } before)
        {
            end = ordered.FindIndex(i => id(i) == before) is var at and >= 0 ? at : throw new UnknownCursorException("before", before);
        }
        // With only before, the page is the one just before the cursor, as the stores return it.
        var window = ordered.Take(end).Skip(start).ToList();
        var taken = page.After is null && page.Before is not null ? window.TakeLast(page.Limit).ToList() : window.Take(page.Limit).ToList();
        return From(new Page<T>(taken, window.Count > taken.Count), item => item, id);
    }
}

/// <summary><c>{"id","object":"….deleted","deleted":true}</c>.</summary>
public sealed record DeletionStatus(string Id, string Object, bool Deleted);
