using Threadloom.Core.Domain;

namespace Threadloom.Core.Runs;

/// <summary>Thrown when code asks for a status move the transition table does not allow.</summary>
public sealed class InvalidRunTransitionException(RunStatus from, RunStatus to)
    : InvalidOperationException($"A run cannot move from '{RunTransitions.WireName(from)}' to '{RunTransitions.WireName(to)}'.")
{
    public RunStatus From { get; } = from;
    public RunStatus To { get; } = to;
}

/// <summary>
/// The one transition table of a run's status (DESIGN §4). Every status change goes through <see cref="Apply"/>,
/// which also keeps the timestamps consistent: <c>started_at</c> on the first <c>in_progress</c>, exactly one of
/// <c>completed_at</c>/<c>failed_at</c>/<c>cancelled_at</c> on the matching end, <c>expires_at</c> null once terminal,
/// <c>required_action</c> only while <c>requires_action</c>.
/// </summary>
public static class RunTransitions
{
    /// <summary>How long a run may wait for tool outputs (and how long a fresh run lives), as OpenAI: 10 minutes.</summary>
    public static readonly TimeSpan ExpiresAfter = TimeSpan.FromMinutes(10);

    private static readonly Dictionary<RunStatus, RunStatus[]> Allowed = new()
    {
        [RunStatus.Queued] = [RunStatus.InProgress, RunStatus.Cancelled, RunStatus.Cancelling, RunStatus.Expired, RunStatus.Failed],
        [RunStatus.InProgress] = [RunStatus.RequiresAction, RunStatus.Completed, RunStatus.Incomplete, RunStatus.Failed, RunStatus.Cancelling, RunStatus.Expired],
        [RunStatus.RequiresAction] = [RunStatus.Queued, RunStatus.Expired, RunStatus.Cancelling, RunStatus.Cancelled, RunStatus.Failed],
        [RunStatus.Cancelling] = [RunStatus.Cancelled, RunStatus.Failed, RunStatus.Completed, RunStatus.Incomplete],
        [RunStatus.Cancelled] = [],
        [RunStatus.Failed] = [],
        [RunStatus.Completed] = [],
        [RunStatus.Incomplete] = [],
        [RunStatus.Expired] = [],
    };

    public static bool IsTerminal(RunStatus status) =>
        status is RunStatus.Cancelled or RunStatus.Failed or RunStatus.Completed or RunStatus.Incomplete or RunStatus.Expired;

    /// <summary>Queued, in progress, waiting for tool outputs or cancelling: the run holds its thread's lock.</summary>
    public static bool IsActive(RunStatus status) => !IsTerminal(status);

    /// <summary>Whether an SSE stream ends after an event carrying this status.</summary>
    public static bool EndsStream(RunStatus status) => IsTerminal(status) || status == RunStatus.RequiresAction;

    public static bool CanMove(RunStatus from, RunStatus to) => Allowed[from].Contains(to);

    public static Run Apply(Run run, RunStatus to, DateTimeOffset now)
    {
        if (!CanMove(run.Status, to))
        {
            throw new InvalidRunTransitionException(run.Status, to);
        }
        var next = run with
        {
            Status = to,
            RequiredAction = to == RunStatus.RequiresAction ? run.RequiredAction : null,
            StartedAt = to == RunStatus.InProgress ? run.StartedAt ?? now : run.StartedAt,
            CompletedAt = to == RunStatus.Completed ? now : run.CompletedAt,
            FailedAt = to == RunStatus.Failed ? now : run.FailedAt,
            CancelledAt = to == RunStatus.Cancelled ? now : run.CancelledAt,
        };
        if (IsTerminal(to))
        {
            next = next with { ExpiresAt = null };
        }
        return next;
    }

    /// <summary>
    /// The one table of run status wire names: the API, the stream's event names (<see cref="RunEventNames"/>) and both
    /// schemas' <c>status</c> column use these. They equal the enum's <c>JsonStringEnumMemberName</c>s, which the
    /// JSON source generator needs as attributes (a test keeps the two the same).
    /// </summary>
    private static readonly (RunStatus Status, string Name)[] StatusNames =
    [
        (RunStatus.Queued, "queued"),
        (RunStatus.InProgress, "in_progress"),
        (RunStatus.RequiresAction, "requires_action"),
        (RunStatus.Cancelling, "cancelling"),
        (RunStatus.Cancelled, "cancelled"),
        (RunStatus.Failed, "failed"),
        (RunStatus.Completed, "completed"),
        (RunStatus.Incomplete, "incomplete"),
        (RunStatus.Expired, "expired"),
    ];

    private static readonly Dictionary<RunStatus, string> NameOf = StatusNames.ToDictionary(e => e.Status, e => e.Name);

    private static readonly Dictionary<string, RunStatus> StatusOf = StatusNames.ToDictionary(e => e.Name, e => e.Status, StringComparer.Ordinal);

    /// <summary>Every status, in table order.</summary>
    public static IReadOnlyList<RunStatus> All { get; } = [.. StatusNames.Select(e => e.Status)];

    /// <summary>
    /// The wire names of the statuses that hold the thread's lock, as an SQL list (<c>('queued', …)</c>) for the stores'
    /// queries. Both schemas' unique partial index <c>ux_runs_active_thread</c> spells the same list.
    /// </summary>
    public static string ActiveStatusesSql { get; } = "(" + string.Join(",", StatusNames.Where(e => IsActive(e.Status)).Select(e => $"'{e.Name}'")) + ")";

    public static string WireName(RunStatus status) =>
        NameOf.TryGetValue(status, out var name) ? name : throw new ArgumentOutOfRangeException(nameof(status), status, "Not a run status.");

    public static RunStatus? Parse(string wire) => StatusOf.TryGetValue(wire, out var status) ? status : null;
}
