using System.Text.Json;

namespace Threadloom.Core.Tools.FileSearch;

public enum ComparisonOperator { Eq, Ne, Gt, Gte, Lt, Lte, In, Nin }

public enum CompoundOperator { And, Or }

/// <summary>
/// An OpenAI attribute filter: a <see cref="ComparisonFilter"/> (<c>eq ne gt gte lt lte in nin</c>) or a
/// <see cref="CompoundFilter"/> (<c>and or</c>), evaluated against a file's attributes.
/// </summary>
/// <remarks>
/// Semantics: numbers compare numerically, strings ordinally, booleans only with eq/ne. A missing key or a type
/// mismatch makes a comparison false, except <c>ne</c> and <c>nin</c>, which are then true.
/// </remarks>
public abstract record AttributeFilter
{
    public abstract bool Matches(IReadOnlyDictionary<string, JsonElement>? attributes);

    /// <summary>Parses the wire form. Returns null and sets <paramref name="error"/> (a 400 message) when malformed.</summary>
    public static AttributeFilter? Parse(JsonElement json, out string? error)
    {
        error = null;
        if (json.ValueKind != JsonValueKind.Object || !json.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
        {
            error = "Invalid 'filters': expected an object with a string 'type'.";
            return null;
        }
        var name = type.GetString();
        switch (name)
        {
            case "and" or "or":
                if (!json.TryGetProperty("filters", out var filters) || filters.ValueKind != JsonValueKind.Array)
                {
                    error = $"Invalid 'filters': a '{name}' filter needs a 'filters' array.";
                    return null;
                }
                var children = new List<AttributeFilter>();
                foreach (var child in filters.EnumerateArray())
                {
                    if (Parse(child, out error) is not { } parsed)
                    {
                        return null;
                    }
                    children.Add(parsed);
                }
                return new CompoundFilter(name == "and" ? CompoundOperator.And : CompoundOperator.Or, children);
            case "eq" or "ne" or "gt" or "gte" or "lt" or "lte" or "in" or "nin":
                if (!json.TryGetProperty("key", out var key) || key.ValueKind != JsonValueKind.String || !json.TryGetProperty("value", out var value))
                {
                    error = $"Invalid 'filters': a '{name}' filter needs a string 'key' and a 'value'.";
                    return null;
                }
                var op = Enum.Parse<ComparisonOperator>(name, ignoreCase: true);
                if (op is ComparisonOperator.In or ComparisonOperator.Nin != (value.ValueKind == JsonValueKind.Array))
                {
                    error = $"Invalid 'filters': '{name}' takes {(op is ComparisonOperator.In or ComparisonOperator.Nin ? "an array" : "a string, number or boolean")} value.";
                    return null;
                }
                return new ComparisonFilter(key.GetString()!, op, value.Clone());
            default:
                error = $"Invalid 'filters.type': '{name}'.";
                return null;
        }
    }
}

public sealed record ComparisonFilter(string Key, ComparisonOperator Operator, JsonElement Value) : AttributeFilter
{
    public override bool Matches(IReadOnlyDictionary<string, JsonElement>? attributes)
    {
        var negated = Operator is ComparisonOperator.Ne or ComparisonOperator.Nin;
        if (attributes is null || !attributes.TryGetValue(Key, out var actual))
        {
            return negated;
        }
        return Operator switch
        {
            ComparisonOperator.Eq => Compare(actual, Value) == 0,
            ComparisonOperator.Ne => Compare(actual, Value) != 0,
            ComparisonOperator.Gt => Compare(actual, Value) is > 0 and not int.MaxValue,
            ComparisonOperator.Gte => Compare(actual, Value) is >= 0 and not int.MaxValue,
            ComparisonOperator.Lt => Compare(actual, Value) < 0,
            ComparisonOperator.Lte => Compare(actual, Value) <= 0,
            ComparisonOperator.In => Value.EnumerateArray().Any(v => Compare(actual, v) == 0),
            _ => !Value.EnumerateArray().Any(v => Compare(actual, v) == 0),
        };
    }

    /// <summary>Orders two JSON scalars; <see cref="int.MaxValue"/> means "not comparable" (so only ne holds).</summary>
    private static int Compare(JsonElement actual, JsonElement expected) => (actual.ValueKind, expected.ValueKind) switch
    {
        (JsonValueKind.Number, JsonValueKind.Number) => actual.GetDouble().CompareTo(expected.GetDouble()),
        (JsonValueKind.String, JsonValueKind.String) => string.CompareOrdinal(actual.GetString(), expected.GetString()) switch { < 0 => -1, 0 => 0, _ => 1 },
        (JsonValueKind.True or JsonValueKind.False, JsonValueKind.True or JsonValueKind.False) => actual.ValueKind == expected.ValueKind ? 0 : int.MaxValue,
        _ => int.MaxValue,
    };
}

public sealed record CompoundFilter(CompoundOperator Operator, IReadOnlyList<AttributeFilter> Filters) : AttributeFilter
{
    public override bool Matches(IReadOnlyDictionary<string, JsonElement>? attributes) =>
        Operator == CompoundOperator.And ? Filters.All(f => f.Matches(attributes)) : Filters.Any(f => f.Matches(attributes));
}
