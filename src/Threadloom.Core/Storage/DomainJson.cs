using System.Text.Json;
using System.Text.Json.Serialization;
using Threadloom.Core.Domain;

namespace Threadloom.Core.Storage;

/// <summary>How stores serialise domain records into their document columns; shared by every SQL dialect.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UseStringEnumConverter = true,
    AllowOutOfOrderMetadataProperties = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Assistant))]
[JsonSerializable(typeof(AssistantThread))]
[JsonSerializable(typeof(ThreadMessage))]
[JsonSerializable(typeof(StoredFile))]
[JsonSerializable(typeof(Upload))]
[JsonSerializable(typeof(Run))]
[JsonSerializable(typeof(RunStep))]
[JsonSerializable(typeof(VectorStore))]
[JsonSerializable(typeof(VectorStoreFile))]
[JsonSerializable(typeof(VectorStoreFileBatch))]
public sealed partial class DomainJson : JsonSerializerContext;
