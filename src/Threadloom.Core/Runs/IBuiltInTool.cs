using Threadloom.Core.Domain;
using Threadloom.Core.Inference;

namespace Threadloom.Core.Runs;

/// <summary>
/// A server-side tool the model calls through a reserved function name (DESIGN §4): <c>code_interpreter(code)</c>
/// or <c>file_search(queries)</c>. The executor offers it when the run's tools include the matching type and an
/// implementation is registered, runs it when the model calls it, records a tool-calls step and continues the loop.
/// </summary>
public interface IBuiltInTool
{
    /// <summary>The reserved name, which is also the tool type: <c>code_interpreter</c> or <c>file_search</c>.</summary>
    string Name { get; }

    /// <summary>The function the upstream model is offered under <see cref="Name"/>.</summary>
    ModelTool Definition { get; }

    /// <summary>Runs one call. Cancelling <paramref name="cancellationToken"/> (run cancelled) must stop the work.</summary>
    Task<BuiltInToolResult> ExecuteAsync(BuiltInToolCall call, CancellationToken cancellationToken);
}

/// <summary>One call of a built-in tool: the run it belongs to, the call id and the model's raw JSON arguments.</summary>
public sealed record BuiltInToolCall(Run Run, string CallId, string Arguments);

/// <summary>
/// What a built-in tool produced: the step item clients see (<see cref="CodeInterpreterStepToolCall"/>,
/// <see cref="FileSearchStepToolCall"/>) and the text the model gets back as the function result.
/// <paramref name="OutputFiles"/> maps the <c>sandbox:/mnt/data/…</c> links of files the tool wrote to their file ids,
/// so the run's final message can carry <c>file_path</c> annotations; images the message should show are the
/// <see cref="CodeInterpreterImageOutput"/> items of the step.
/// </summary>
public sealed record BuiltInToolResult(StepToolCall StepToolCall, string ModelOutput, IReadOnlyDictionary<string, string>? OutputFiles = null);

/// <summary>
/// Thrown by a built-in tool that cannot work on this server at all (for example the code sandbox cannot start):
/// the run fails with <c>server_error</c> and this message as <c>last_error</c>, instead of the model being told.
/// </summary>
public sealed class BuiltInToolUnavailableException(string message) : Exception(message);
