using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using Threadloom.Core.Domain;
using Threadloom.Core.Inference;
using Threadloom.Core.Storage;
using Threadloom.Core.Tools.CodeInterpreter;
using Threadloom.Core.Tools.FileSearch;

namespace Threadloom.Core.Runs;

/// <summary>
/// Executes one claimed run: prompt, streamed model call, message and tool-call steps, built-in tools, until the run
/// completes, needs tool outputs, or ends otherwise.
/// </summary>
/// <remarks>
/// Design notes (DESIGN §4):
/// <list type="bullet">
/// <item>The row is the truth: every run write is optimistic on the status the executor believes; when it fails the
/// run was cancelled (or ended by a sweep) meanwhile, and the executor takes the cancel path.</item>
/// <item>The executor writes nothing and publishes nothing by hand: <see cref="RunLifecycle"/> makes every write of
/// the run, its steps and messages, and emits the events they imply, after the write.</item>
/// <item>Text is persisted when the message completes, not per delta: deltas are only streamed; a poller sees the
/// message <c>in_progress</c> until then.</item>
/// <item><c>tool_choice</c> <c>required</c> or a named tool governs every model call of the run until it is
/// satisfied: <c>required</c> until the run called any tool, a named tool until the run called that tool (OpenAI:
/// "the model must call one or more tools before responding"). After that the model may answer (<c>auto</c>),
/// otherwise a forced built-in tool would loop forever.</item>
/// </list>
/// The class is split along its seams: turn planning (<c>RunExecutor.TurnPlanning.cs</c>), the message writer
/// (<c>RunExecutor.MessageWriter.cs</c>), tool-step streaming (<c>RunExecutor.ToolSteps.cs</c>) and closing
/// (<c>RunExecutor.Closing.cs</c>); this file holds the loop and the state they share.
/// </remarks>
public sealed partial class RunExecutor(
    IRunStore runs,
    IRunStepStore steps,
    IRunPromptStore promptRecords,
    IModelClient model,
    IModelRouter router,
    PromptBuilder prompts,
    RunLifecycle lifecycle,
    IEnumerable<IBuiltInTool> builtInTools,
    IIdGenerator ids,
    TimeProvider time,
    ILogger<RunExecutor> logger)
{
    public static readonly ActivitySource ActivitySource = new("Threadloom.Runs");

    /// <summary>The <c>last_error.message</c> of a run that was still executing when its node shut down.</summary>
    public const string ShutdownMessage =
        "The server shut down before the run finished: runs still in progress at the end of the shutdown grace period (Runs:ShutdownGracePeriod) are failed. Create the run again.";

    private readonly Dictionary<string, IBuiltInTool> _builtIns = builtInTools.ToDictionary(t => t.Name, StringComparer.Ordinal);

    private IEnumerable<IRunMessageAnnotator> Annotators => _builtIns.Values.OfType<IRunMessageAnnotator>();


    /// <summary>Executes <paramref name="claimed"/> (leased and started by its claim). Cancelling the token means the run was cancelled or the node stops.</summary>
    public async Task ExecuteAsync(ClaimedRun claimed, CancellationToken cancellationToken)
    {
        using var activity = ActivitySource.StartActivity("run");
        activity?.SetTag("threadloom.run_id", claimed.Run.Id);
        // Steps are written only by an executor, after the run's first start: a run started by this claim has none.
        var state = new ExecutionState(claimed.Run) { MayHaveSteps = claimed.Resumed };
        try
        {
            while (await TurnAsync(state, cancellationToken))
            {
            }
        }
        catch (Exception e) when (e is OperationCanceledException or RunChangedException)
        {
            await StopAsync(state);
        }
        catch (BuiltInToolUnavailableException e)
        {
            LogToolUnavailable(state.Run.Id, e.Message);
            await FailAsync(state, new RunError("server_error", e.Message));
        }
        catch (ModelCallException e)
        {
            LogModelFailed(state.Run.Id, e.Code);
            await FailAsync(state, new RunError(e.Code, e.Message));
        }
        catch (Exception e)
        {
            LogUnexpected(e, state.Run.Id);
            lifecycle.StreamError(state.Run.Id, new RunError("server_error", "The server had an error while processing the run."));
            await FailAsync(state, new RunError("server_error", "The server had an error while processing the run."));
        }
    }

    private RunStep NewStep(ExecutionState state, DateTimeOffset now, StepDetails details)
    {
        state.MayHaveSteps = true;
        var run = state.Run;
        return new(ids.NewId(Ids.Step), run.ProjectId, now, run.ThreadId, run.Id, run.AssistantId, RunStepStatus.InProgress, details, new Dictionary<string, string>());
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Run {RunId} failed: model call error {Code}")]
    private partial void LogModelFailed(string runId, string code);

    [LoggerMessage(Level = LogLevel.Error, Message = "Run {RunId} failed: a built-in tool is unavailable: {Reason}")]
    private partial void LogToolUnavailable(string runId, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Run {RunId} failed with an unexpected error")]
    private partial void LogUnexpected(Exception exception, string runId);

    /// <summary>How a turn ends the run on its own: completed, or incomplete and why.</summary>
    private readonly record struct RunEnd(RunStatus Status, RunIncompleteDetails? Incomplete);

    /// <summary>The run row's status is no longer what this executor wrote: it was cancelled or ended by a sweep.</summary>
    private sealed class RunChangedException() : Exception("The run changed status under its executor.");

    private sealed class ExecutionState(Run run)
    {
        public Run Run { get; set; } = run;
        public ThreadMessage? Message { get; set; }
        public RunStep? MessageStep { get; set; }

        /// <summary>False while the run is known to have no step (claimed unstarted, none opened since).</summary>
        public bool MayHaveSteps { get; set; }
        public StringBuilder Text { get; } = new();

        /// <summary>The open message's annotations so far (streamed with its text).</summary>
        public List<TextAnnotation> Annotations { get; } = [];

        public List<IMessageTextFilter> TextFilters { get; } = [];
        public RunStep? ToolStep { get; set; }
        public Dictionary<int, string> AnnouncedCalls { get; } = [];
        public Dictionary<int, CodeArgumentsStream> CodeInputs { get; } = [];

        /// <summary>Images the open message shows before its text (code_interpreter figures made since the last message).</summary>
        public List<ImageFileContent> Images { get; } = [];
    }
}
