using System.ComponentModel.DataAnnotations;

namespace Threadloom.Core.Runs;

/// <summary>The run engine's settings, section <c>Runs</c>; validated at startup.</summary>
public sealed class RunsOptions
{
    public const string SectionName = "Runs";

    /// <summary>False: this node claims no runs and sweeps none (an API-only node of a cluster); it still creates,
    /// streams, polls and cancels runs that other nodes execute.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Runs one node executes at the same time. A run mostly waits on the model, so this is far above the
    /// core count: with 64 clients, 64 slots completed 665 runs/s against 455 with 32 (docs/benchmarks.md).</summary>
    [Range(1, 1024)]
    public int MaxConcurrentRuns { get; init; } = 64;

    /// <summary>How long a claim holds without a heartbeat (renewed every third of it); a run whose lease lapses (its
    /// node died) is failed with <c>server_error</c> by any node's next sweep (issue #12 §3: 30 s by default).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the worker looks for queued, expired and lapsed runs without being signalled.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan SweepInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// On SIGTERM the node stops claiming runs and lets in-flight ones finish for this long; those still running then
    /// fail with <c>server_error</c> (issue #9 §5). The host's shutdown timeout is raised to cover it.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan ShutdownGracePeriod { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The largest image file read into a prompt (<c>image_file</c> content and code interpreter images).
    /// OpenAI's limit for an image input is 20 MB.</summary>
    [Range(1024, 512L * 1024 * 1024)]
    public long MaxImageBytes { get; init; } = 20L * 1024 * 1024;

    /// <summary>The image bytes one model call may carry in total (OpenAI: 50 MB a request). Past it a user's images
    /// fail the run; code interpreter images are left out.</summary>
    [Range(1024, 2L * 1024 * 1024 * 1024)]
    public long MaxPromptImageBytes { get; init; } = 50L * 1024 * 1024;
}
