using System.Text.Json;

namespace Threadloom.Core.Domain;

/// <summary>
/// A JSON reading error whose message is written for API users (OpenAI's wording), as opposed to the serializer's
/// own messages, which name .NET types and must not reach a client.
/// </summary>
public sealed class InvalidWireValueException(string message, string? param = null) : JsonException(message)
{
    public string? Param { get; } = param;
}
