using System.Threading.Channels;
using Threadloom.Core.Domain;

namespace Threadloom.Core.Runs;

/// <summary>
/// One Assistants stream event. <see cref="Payload"/> is a <see cref="Run"/>, <see cref="RunStep"/>,
/// <see cref="ThreadMessage"/>, <see cref="AssistantThread"/>, <see cref="MessageDelta"/>, <see cref="StepDelta"/>
/// or, for <c>error</c>, a <see cref="RunError"/>; the HTTP layer turns it into wire JSON.
/// </summary>
public sealed record RunEvent(string Name, object Payload)
{
    /// <summary>The event's position in its run's stream (1, 2, …), set by the <see cref="IRunEventBus"/> that delivers it; 0 before.</summary>
    public long Sequence { get; init; }

    /// <summary>The event of <paramref name="run"/> in its current status (<c>thread.run.queued</c>, …).</summary>
    public static RunEvent ForRun(Run run) => new(RunEventNames.ForRun(run.Status), run);

    /// <summary>The event of <paramref name="step"/> in its current status (<c>thread.run.step.in_progress</c>, …).</summary>
    public static RunEvent ForStep(RunStep step) => new(RunEventNames.ForStep(step.Status), step);

    /// <summary>The event of <paramref name="message"/> in its current status (<c>thread.message.in_progress</c>, …).</summary>
    public static RunEvent ForMessage(ThreadMessage message) => new(RunEventNames.ForMessage(message.Status), message);

    /// <summary>True for the last event of a stream: a run that needs tool outputs or ended, or an error.</summary>
    public bool EndsStream => Name == RunEventNames.Error || (Payload is Run run && Name != RunEventNames.RunCreated && RunTransitions.EndsStream(run.Status));
}

/// <summary>
/// An increment of text content part <paramref name="Index"/>: more text (possibly none) and the annotations it
/// completes, which are items <paramref name="FirstAnnotationIndex"/>… of the part's annotations.
/// </summary>
public sealed record MessageDelta(string MessageId, int Index, string Text, IReadOnlyList<TextAnnotation>? Annotations = null, int FirstAnnotationIndex = 0);

/// <summary>
/// An increment of tool call <paramref name="Index"/> of a tool-calls step. A function call's first delta carries
/// <paramref name="CallId"/> and <paramref name="FunctionName"/>; later ones only an arguments fragment.
/// <paramref name="Snapshot"/>, when set, is the whole call (built-in tools, sent once they have run).
/// <paramref name="CodeInterpreter"/>, when set, is an increment of a code_interpreter call (its first delta also
/// carries <paramref name="CallId"/>).
/// </summary>
public sealed record StepDelta(string StepId, int Index, string? CallId, string? FunctionName, string? ArgumentsFragment, StepToolCall? Snapshot = null,
    CodeInterpreterDelta? CodeInterpreter = null);

/// <summary>
/// An increment of a code_interpreter call: more of its <c>input</c>, and/or outputs appended from position
/// <paramref name="FirstOutputIndex"/> (each output is sent with its <c>index</c>).
/// </summary>
public sealed record CodeInterpreterDelta(string? Input, IReadOnlyList<CodeInterpreterOutput>? Outputs = null, int FirstOutputIndex = 0);

/// <summary>One stream's view of a run's events.</summary>
public sealed class RunSubscription(ChannelReader<RunEvent> reader, Action unsubscribe) : IDisposable
{
    private int _disposed;

    public ChannelReader<RunEvent> Reader => reader;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            unsubscribe();
        }
    }
}

/// <summary>
/// The in-process <see cref="IRunCancellation"/>: the cancellation sources of the runs this node executes, so a cancel
/// request reaches them at once. A cluster's implementation wraps it and carries <see cref="Cancel"/> to the other nodes.
/// </summary>
/// <remarks>
/// A claim starts its runs (<see cref="Storage.IRunStore.ClaimAsync"/>), so a client can see a run <c>in_progress</c>
/// and cancel it a moment before its executor registers here. A cancel for a run nobody registered is therefore kept
/// for <see cref="EarlyCancelKept"/> (at most <see cref="EarlyCancelLimit"/> of them), and a registration that finds
/// one cancels its source at once. A kept cancel cannot hit a later execution of the run: a cancel is only sent once
/// the run is <c>cancelling</c> or ended, and neither is ever claimed again.
/// </remarks>
public sealed class RunCancellations(TimeProvider time) : IRunCancellation
{
    public static readonly TimeSpan EarlyCancelKept = TimeSpan.FromSeconds(30);
    public const int EarlyCancelLimit = 4096;

    private readonly Dictionary<string, CancellationTokenSource> _sources = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _early = new(StringComparer.Ordinal);
    private readonly Queue<(string RunId, DateTimeOffset At)> _earlyOrder = new();
    private readonly Lock _gate = new();

    public IDisposable Register(string runId, CancellationTokenSource source)
    {
        bool cancelled;
        lock (_gate)
        {
            _sources[runId] = source;
            cancelled = _early.Remove(runId);
        }
        if (cancelled)
        {
            source.Cancel();
        }
        return new Registration(this, runId);
    }

    /// <summary>How many runs this node is executing.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _sources.Count;
            }
        }
    }

    public bool IsLocal(string runId)
    {
        lock (_gate)
        {
            return _sources.ContainsKey(runId);
        }
    }

    /// <summary>Cancels the run's token if this node executes it, or keeps the cancel for a registration about to come; a run elsewhere sees <c>cancelling</c> on its heartbeat.</summary>
    public void Cancel(string runId)
    {
        CancellationTokenSource? source;
        lock (_gate)
        {
            if (!_sources.TryGetValue(runId, out source))
            {
                KeepEarly(runId);
            }
        }
        try
        {
            source?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The run ended meanwhile.
        }
    }

    private void KeepEarly(string runId)
    {
        var now = time.GetUtcNow();
        while (_earlyOrder.TryPeek(out var oldest) && (now - oldest.At > EarlyCancelKept || _earlyOrder.Count >= EarlyCancelLimit))
        {
            _earlyOrder.Dequeue();
            if (_early.TryGetValue(oldest.RunId, out var at) && at == oldest.At)
            {
                _early.Remove(oldest.RunId);
            }
        }
        _early[runId] = now;
        _earlyOrder.Enqueue((runId, now));
    }

    private sealed class Registration(RunCancellations owner, string runId) : IDisposable
    {
        public void Dispose()
        {
            lock (owner._gate)
            {
                owner._sources.Remove(runId);
            }
        }
    }
}
