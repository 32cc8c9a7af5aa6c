using Threadloom.Core.Domain;

namespace Threadloom.Core.Runs;

/// <summary>
/// The one table of stream event names, as the Assistants API spells them (openai-dotnet's
/// <c>StreamingUpdateReason.Serialization.cs</c>). Status events are named from the status, never by concatenation at
/// the call site, so a status the table lacks fails at once instead of streaming an unknown name.
/// </summary>
public static class RunEventNames
{
    public const string ThreadCreated = "thread.created";
    public const string RunCreated = "thread.run.created";
    public const string StepCreated = "thread.run.step.created";
    public const string StepDelta = "thread.run.step.delta";
    public const string MessageCreated = "thread.message.created";
    public const string MessageDelta = "thread.message.delta";
    public const string Error = "error";

    private static readonly Dictionary<RunStatus, string> RunNames =
        RunTransitions.All.ToDictionary(s => s, s => "thread.run." + RunTransitions.WireName(s));

    private static readonly Dictionary<RunStepStatus, string> StepNames = new()
    {
        [RunStepStatus.InProgress] = "thread.run.step.in_progress",
        [RunStepStatus.Completed] = "thread.run.step.completed",
        [RunStepStatus.Failed] = "thread.run.step.failed",
        [RunStepStatus.Cancelled] = "thread.run.step.cancelled",
        [RunStepStatus.Expired] = "thread.run.step.expired",
    };

    private static readonly Dictionary<MessageStatus, string> MessageNames = new()
    {
        [MessageStatus.InProgress] = "thread.message.in_progress",
        [MessageStatus.Completed] = "thread.message.completed",
        [MessageStatus.Incomplete] = "thread.message.incomplete",
    };

    /// <summary><c>thread.run.queued</c>, <c>thread.run.in_progress</c>, …: the event of a run now in <paramref name="status"/>.</summary>
    public static string ForRun(RunStatus status) => RunNames[status];

    /// <summary><c>thread.run.step.in_progress</c>, <c>thread.run.step.completed</c>, …</summary>
    public static string ForStep(RunStepStatus status) => StepNames[status];

    /// <summary><c>thread.message.in_progress</c>, <c>thread.message.completed</c>, <c>thread.message.incomplete</c>.</summary>
    public static string ForMessage(MessageStatus status) => MessageNames[status];
}
