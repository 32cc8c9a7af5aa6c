using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Threadloom.Server.Features.Assistants;
using Threadloom.Server.Features.Files;
using Threadloom.Server.Features.Messages;
using Threadloom.Server.Features.Models;
using Threadloom.Server.Features.Runs;
using Threadloom.Server.Features.Threads;
using Threadloom.Server.Features.VectorStores;

namespace Threadloom.Server.Http;

/// <summary>
/// The one source-generated JSON context of the HTTP surface. Its options are repeated on the HTTP JSON options
/// (STYLE habit 3): snake_case names, out-of-order <c>type</c> discriminators, unknown members rejected.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    AllowOutOfOrderMetadataProperties = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(DeletionStatus))]
[JsonSerializable(typeof(CreateAssistantRequest))]
[JsonSerializable(typeof(ModifyAssistantRequest))]
[JsonSerializable(typeof(AssistantObject))]
[JsonSerializable(typeof(ListResponse<AssistantObject>))]
[JsonSerializable(typeof(CreateAssistantFileRequest))]
[JsonSerializable(typeof(AssistantFileObject))]
[JsonSerializable(typeof(ListResponse<AssistantFileObject>))]
[JsonSerializable(typeof(MessageFileObject))]
[JsonSerializable(typeof(ListResponse<MessageFileObject>))]
[JsonSerializable(typeof(CreateThreadRequest))]
[JsonSerializable(typeof(ModifyThreadRequest))]
[JsonSerializable(typeof(ThreadObject))]
[JsonSerializable(typeof(ListResponse<ThreadObject>))]
[JsonSerializable(typeof(CreateMessageRequest))]
[JsonSerializable(typeof(ModifyMessageRequest))]
[JsonSerializable(typeof(List<ContentPart>))]
[JsonSerializable(typeof(MessageObject))]
[JsonSerializable(typeof(ListResponse<MessageObject>))]
[JsonSerializable(typeof(FileObject))]
[JsonSerializable(typeof(ListResponse<FileObject>))]
[JsonSerializable(typeof(ModelObject))]
[JsonSerializable(typeof(ListResponse<ModelObject>))]
[JsonSerializable(typeof(CreateRunRequest))]
[JsonSerializable(typeof(CreateThreadAndRunRequest))]
[JsonSerializable(typeof(ModifyRunRequest))]
[JsonSerializable(typeof(SubmitToolOutputsRequest))]
[JsonSerializable(typeof(RunObject))]
[JsonSerializable(typeof(ListResponse<RunObject>))]
[JsonSerializable(typeof(RunStepObject))]
[JsonSerializable(typeof(ListResponse<RunStepObject>))]
[JsonSerializable(typeof(Threadloom.Core.Domain.StepToolCall))]
[JsonSerializable(typeof(List<Threadloom.Core.Domain.TextAnnotation>))]
[JsonSerializable(typeof(Threadloom.Server.Features.Uploads.CreateUploadRequest))]
[JsonSerializable(typeof(Threadloom.Server.Features.Uploads.CompleteUploadRequest))]
[JsonSerializable(typeof(Threadloom.Server.Features.Uploads.UploadObject))]
[JsonSerializable(typeof(Threadloom.Server.Features.Uploads.UploadPartObject))]
[JsonSerializable(typeof(CreateVectorStoreRequest))]
[JsonSerializable(typeof(ModifyVectorStoreRequest))]
[JsonSerializable(typeof(VectorStoreObject))]
[JsonSerializable(typeof(ListResponse<VectorStoreObject>))]
[JsonSerializable(typeof(CreateVectorStoreFileRequest))]
[JsonSerializable(typeof(UpdateVectorStoreFileRequest))]
[JsonSerializable(typeof(VectorStoreFileObject))]
[JsonSerializable(typeof(ListResponse<VectorStoreFileObject>))]
[JsonSerializable(typeof(VectorStoreFileContentPage))]
[JsonSerializable(typeof(CreateVectorStoreFileBatchRequest))]
[JsonSerializable(typeof(VectorStoreFileBatchObject))]
[JsonSerializable(typeof(SearchVectorStoreRequest))]
[JsonSerializable(typeof(VectorStoreSearchResultsPage))]
[JsonSerializable(typeof(Threadloom.Server.Features.Playground.RenderRequest))]
[JsonSerializable(typeof(Threadloom.Server.Features.Playground.RenderResponse))]
public sealed partial class ApiJsonContext : JsonSerializerContext
{
    /// <summary>Applies the context's settings to other options, e.g. the HTTP JSON options.</summary>
    public static void Configure(JsonSerializerOptions options)
    {
        options.TypeInfoResolverChain.Insert(0, Default);
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.AllowOutOfOrderMetadataProperties = true;
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        // Quotes and angle brackets stay readable in messages; responses are JSON, never embedded in HTML.
        options.Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
    }
}
