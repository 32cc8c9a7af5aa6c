using System.Text.Json.Nodes;
using Threadloom.Testing.Schemas;

namespace Threadloom.Server.Tests;

/// <summary>The schema helper itself: each JSON Schema rule it relies on rejects what it must, on both spec files.</summary>
public sealed class OpenApiSchemasTests
{
    private const string V1Run = """
        {"id":"run_1","object":"thread.run","created_at":1,"thread_id":"thread_1","assistant_id":"asst_1","status":"completed",
         "required_action":null,"last_error":null,"expires_at":null,"started_at":1,"cancelled_at":null,"failed_at":null,
         "completed_at":2,"model":"gpt-4","instructions":"","tools":[{"type":"retrieval"}],"file_ids":["file-1"],"metadata":{},
         "usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2},"incomplete_details":null,"max_prompt_tokens":null,
         "max_completion_tokens":null,"truncation_strategy":{"type":"auto","last_messages":null},"tool_choice":"auto","response_format":"auto"}
        """;

    private static JsonNode Edit(string json, Action<JsonObject> edit)
    {
        var node = JsonNode.Parse(json)!;
        edit(node.AsObject());
        return node;
    }

    [Fact]
    public void V1Run_Valid_HasNoProblems() => Assert.Empty(OpenApiSchemas.V1.Validate(JsonNode.Parse(V1Run), "RunObject"));

    [Fact]
    public void Required_MissingField_IsReported() =>
        Assert.Contains(OpenApiSchemas.V1.Validate(Edit(V1Run, r => r.Remove("file_ids")), "RunObject"), p => p.Contains("file_ids", StringComparison.Ordinal));

    [Fact]
    public void Nullable_NullAllowedOnlyWhereNullable()
    {
        Assert.Empty(OpenApiSchemas.V1.Validate(Edit(V1Run, r => r["truncation_strategy"] = null), "RunObject"));
        Assert.Empty(OpenApiSchemas.V1.Validate(Edit(V1Run, r => r["usage"] = null), "RunObject"));
        Assert.NotEmpty(OpenApiSchemas.V1.Validate(Edit(V1Run, r => r["model"] = null), "RunObject"));
    }

    [Fact]
    public void Enum_UnknownValue_IsReported() =>
        Assert.NotEmpty(OpenApiSchemas.V1.Validate(Edit(V1Run, r => r["status"] = "incomplete"), "RunObject"));

    [Fact]
    public void OneOfAndRef_V2ToolInV1_IsReported()
    {
        Assert.NotEmpty(OpenApiSchemas.V1.Validate(Edit(V1Run, r => r["tools"] = new JsonArray(new JsonObject { ["type"] = "file_search" })), "RunObject"));
        Assert.Empty(OpenApiSchemas.V2.Validate(JsonNode.Parse("""{"type":"file_search"}"""), "AssistantToolsFileSearch"));
    }

    [Fact]
    public void Types_And_Arrays_AreChecked()
    {
        Assert.NotEmpty(OpenApiSchemas.V1.Validate(Edit(V1Run, r => r["created_at"] = "1"), "RunObject"));
        Assert.NotEmpty(OpenApiSchemas.V1.Validate(Edit(V1Run, r => r["file_ids"] = new JsonArray(1)), "RunObject"));
        Assert.NotEmpty(OpenApiSchemas.V1.Validate(Edit(V1Run, r => r["tools"] = new JsonObject()), "RunObject"));
    }

    [Fact]
    public void AdditionalProperties_False_RejectsUnknownField()
    {
        Assert.Empty(OpenApiSchemas.V2.Validate(JsonNode.Parse("""{"metadata":{"a":"b"}}"""), "ModifyRunRequest"));
        Assert.NotEmpty(OpenApiSchemas.V2.Validate(JsonNode.Parse("""{"metadata":{},"extra":1}"""), "ModifyRunRequest"));
    }

    [Fact]
    public void V1Citation_WithoutQuote_IsReported()
    {
        const string text = """{"type":"text","text":{"value":"a【0:0†f.txt】","annotations":[{"type":"file_citation","text":"【0:0†f.txt】","file_citation":{"file_id":"file-1"},"start_index":1,"end_index":12}]}}""";
        Assert.NotEmpty(OpenApiSchemas.V1.Validate(JsonNode.Parse(text), "MessageContentTextObject"));
        Assert.Empty(OpenApiSchemas.V2.Validate(JsonNode.Parse(text), "MessageContentTextObject"));
    }

    [Fact]
    public void V1StepDelta_RetrievalAllowed_FileSearchNot()
    {
        const string delta = """{"id":"step_1","object":"thread.run.step.delta","delta":{"step_details":{"type":"tool_calls","tool_calls":[{"index":0,"id":"call_1","type":"TYPE","TYPE":{}}]}}}""";
        Assert.Empty(OpenApiSchemas.V1.Validate(JsonNode.Parse(delta.Replace("TYPE", "retrieval", StringComparison.Ordinal)), "RunStepDeltaObject"));
        Assert.NotEmpty(OpenApiSchemas.V1.Validate(JsonNode.Parse(delta.Replace("TYPE", "file_search", StringComparison.Ordinal)), "RunStepDeltaObject"));
        Assert.Empty(OpenApiSchemas.V2.Validate(JsonNode.Parse(delta.Replace("TYPE", "file_search", StringComparison.Ordinal)), "RunStepDeltaObject"));
    }

    [Fact]
    public void ResponseSchemaOf_FindsOperations_LiteralPathWins()
    {
        Assert.Equal("RunObject", OpenApiSchemas.V2.ResponseSchemaOf("POST", "threads/runs", 200));
        Assert.Equal("ThreadObject", OpenApiSchemas.V2.ResponseSchemaOf("POST", "threads/thread_1", 200));
        Assert.Equal("ListRunStepsResponse", OpenApiSchemas.V1.ResponseSchemaOf("GET", "threads/t/runs/r/steps?limit=2", 200));
        Assert.Equal("AssistantFileObject", OpenApiSchemas.V1.ResponseSchemaOf("POST", "assistants/asst_1/files", 200));
        Assert.Null(OpenApiSchemas.V2.ResponseSchemaOf("POST", "assistants/asst_1/files", 200));
        Assert.Equal("ErrorResponse", OpenApiSchemas.V1.ResponseSchemaOf("GET", "assistants", 404));
    }

    [Fact]
    public void UnknownSchemaName_Throws() => Assert.Throws<ArgumentException>(() => OpenApiSchemas.V1.Validate(null, "NoSuchSchema"));

    [Fact]
    public void Lists_CursorsNullOnlyWhenEmpty()
    {
        const string list = """{"data":[{"id":"file-1","created_at":1,"assistant_id":"asst_1","object":"assistant.file"}],"first_id":"file-1","last_id":"file-1","has_more":false,"object":"list"}""";
        Assert.Equal([], OpenApiSchemas.V1.Validate(JsonNode.Parse(list), "ListAssistantFilesResponse"));
        Assert.Empty(OpenApiSchemas.V1.Validate(JsonNode.Parse("""{"data":[],"first_id":null,"last_id":null,"has_more":false,"object":"list"}"""), "ListAssistantFilesResponse"));
        Assert.NotEmpty(OpenApiSchemas.V1.Validate(Edit(list, l => l["first_id"] = null), "ListAssistantFilesResponse"));
    }
}
