using System.ComponentModel.DataAnnotations;

namespace Threadloom.Sandbox;

/// <summary>Settings of the code-interpreter sandbox (section <c>CodeInterpreter</c>). Defaults are the safe ones.</summary>
public sealed class CodeInterpreterOptions : IValidatableObject
{
    public const string SectionName = "CodeInterpreter";

    /// <summary>When false, no kernel is ever started and executions fail with a clear message.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Root of the sandbox's host folders (runtime files and one working folder per session).</summary>
    [Required]
    public string WorkRoot { get; set; } = Path.Combine(Path.GetTempPath(), "threadloom-sandbox");

    [Required] public string BubblewrapPath { get; set; } = "/usr/bin/bwrap";
    [Required] public string PrlimitPath { get; set; } = "/usr/bin/prlimit";
    [Required] public string SetprivPath { get; set; } = "/usr/bin/setpriv";
    [Required] public string PythonPath { get; set; } = "/usr/bin/python3";

    /// <summary>Kernels kept started and waiting for a new session; 0 disables the pool.</summary>
    [Range(0, 64)] public int WarmPoolSize { get; set; } = 2;

    /// <summary>Modules every kernel imports before it is handed out.</summary>
    public IList<string> PreloadModules { get; set; } = ["numpy", "pandas", "matplotlib"];

    /// <summary>Sessions unused for this long are stopped and their folder deleted (OpenAI: one hour).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Wall-clock limit of one execution; on expiry the kernel is killed and replaced.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan ExecutionTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>Time allowed for a kernel to start and import <see cref="PreloadModules"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Memory of one sandbox process, bytes. <see cref="TmpSizeBytes"/> and <see cref="ShmSizeBytes"/> (tmpfs, held in
    /// host RAM) are carved out of it: RLIMIT_AS is this minus both, so files in <c>/tmp</c> and <c>/dev/shm</c> plus the
    /// kernel's address space stay within this figure.
    /// </summary>
    [Range(64L << 20, 1L << 40)] public long MemoryBytes { get; set; } = 2L << 30;

    /// <summary>CPU seconds one execution may use (soft RLIMIT_CPU, set by the kernel before each execution).</summary>
    [Range(1, 86_400)] public int CpuSecondsPerExecution { get; set; } = 120;

    /// <summary>CPU seconds a kernel may use over its life (hard RLIMIT_CPU; the kernel is killed past it).</summary>
    [Range(1, 1_000_000)] public int CpuSecondsPerKernel { get; set; } = 3600;

    /// <summary>RLIMIT_FSIZE: largest file the code may write (bytes).</summary>
    [Range(1L << 10, 1L << 40)] public long MaxFileSizeBytes { get; set; } = 100L << 20;

    /// <summary>RLIMIT_NPROC: tasks (processes and threads) of one sandbox; each session has its own host uid.</summary>
    [Range(4, 4096)] public int MaxProcesses { get; set; } = 64;

    /// <summary>RLIMIT_NOFILE of the kernel.</summary>
    [Range(16, 65_536)] public int MaxOpenFiles { get; set; } = 1024;

    /// <summary>Size of the sandbox's private /tmp (tmpfs, counted against <see cref="MemoryBytes"/>).</summary>
    [Range(1L << 20, 1L << 40)] public long TmpSizeBytes { get; set; } = 256L << 20;

    /// <summary>Size of the sandbox's private /dev/shm (tmpfs, counted against <see cref="MemoryBytes"/>).</summary>
    [Range(1L << 20, 1L << 40)] public long ShmSizeBytes { get; set; } = 64L << 20;

    /// <summary>Bytes of stdout/stderr returned per execution; the rest is dropped with a notice.</summary>
    [Range(1024, 16 << 20)] public int MaxLogBytes { get; set; } = 64 << 10;

    /// <summary>Largest single output file returned; larger ones are reported in the logs.</summary>
    [Range(1024, 1L << 32)] public long MaxOutputFileBytes { get; set; } = 50L << 20;

    /// <summary>Total bytes of output files (figures included) returned per execution.</summary>
    [Range(1024, 1L << 34)] public long MaxOutputTotalBytes { get; set; } = 100L << 20;

    /// <summary>Output files (figures included) returned per execution; the rest are counted and reported.</summary>
    [Range(1, 10_000)] public int MaxOutputFilesPerExecution { get; set; } = 20;

    /// <summary>Total bytes of output files returned over a session's life.</summary>
    [Range(1024, 1L << 40)] public long MaxOutputSessionBytes { get; set; } = 500L << 20;

    /// <summary>Entries the host looks at when it scans a session's <c>/mnt/data</c> after an execution.</summary>
    [Range(16, 1_000_000)] public int MaxScanEntries { get; set; } = 10_000;

    /// <summary>Folder depth under <c>/mnt/data</c> the scan goes down to; deeper files are not returned.</summary>
    [Range(1, 64)] public int MaxScanDepth { get; set; } = 8;

    /// <summary>Most sessions kept at once; past it the least recently used idle session is ended.</summary>
    [Range(1, 10_000)] public int MaxSessions { get; set; } = 64;

    /// <summary>First host uid given to sessions; each session runs as its own host uid (mapped to 65534 inside).</summary>
    [Range(1000, int.MaxValue - 1_000_000)] public int HostUidBase { get; set; } = 1_900_000_000;

    /// <summary>Number of host uids, from <see cref="HostUidBase"/>, that sessions may use.</summary>
    [Range(16, 1_000_000)] public int HostUidCount { get; set; } = 65_536;

    /// <summary>The address-space limit handed to prlimit: <see cref="MemoryBytes"/> less the two tmpfs sizes.</summary>
    public long AddressSpaceBytes => MemoryBytes - TmpSizeBytes - ShmSizeBytes;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (AddressSpaceBytes < 64L << 20)
        {
            yield return new ValidationResult(
                $"{SectionName}:MemoryBytes must exceed TmpSizeBytes + ShmSizeBytes by at least 64 MiB (they are counted against it).",
                [nameof(MemoryBytes), nameof(TmpSizeBytes), nameof(ShmSizeBytes)]);
        }
        if (MaxOutputFileBytes > MaxOutputTotalBytes || MaxOutputTotalBytes > MaxOutputSessionBytes)
        {
            yield return new ValidationResult(
                $"{SectionName}: MaxOutputFileBytes <= MaxOutputTotalBytes <= MaxOutputSessionBytes is required.",
                [nameof(MaxOutputFileBytes), nameof(MaxOutputTotalBytes), nameof(MaxOutputSessionBytes)]);
        }
    }
}
