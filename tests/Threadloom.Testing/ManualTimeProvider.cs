namespace Threadloom.Testing;

/// <summary>
/// A clock that moves only when a test says so. Only <see cref="GetUtcNow"/> is faked: timers and delays still run on
/// real time, so code that polls keeps polling, and what it compares against the clock sees the test's time.
/// </summary>
public sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private long _ticks = start.UtcTicks;

    public ManualTimeProvider()
        : this(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero))
    {
    }

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
