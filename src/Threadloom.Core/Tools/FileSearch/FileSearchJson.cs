using System.Text.Json;
using System.Text.Json.Serialization;

namespace Threadloom.Core.Tools.FileSearch;

/// <summary>How chunk indexes serialise attributes and id lists; shared by every SQL dialect.</summary>
[JsonSerializable(typeof(IReadOnlyDictionary<string, JsonElement>))]
[JsonSerializable(typeof(Dictionary<string, JsonElement>))]
[JsonSerializable(typeof(List<string>))]
[JsonSerializable(typeof(List<long>))]
public sealed partial class FileSearchJson : JsonSerializerContext;
