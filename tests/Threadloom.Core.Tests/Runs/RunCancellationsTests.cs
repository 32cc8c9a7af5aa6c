using Threadloom.Core.Runs;
using Threadloom.Testing;

namespace Threadloom.Core.Tests.Runs;

/// <summary>
/// A claim starts its runs, so a cancel can arrive a moment before the run's executor registers: it must not be lost
/// (issue #12: a cancel stops the run within a second, not at the next heartbeat).
/// </summary>
public sealed class RunCancellationsTests
{
    [Fact]
    public void Cancel_BeforeTheRunRegisters_CancelsItAtRegistration()
    {
        var cancellations = new RunCancellations(new ManualTimeProvider());
        cancellations.Cancel("run_early");
        using var source = new CancellationTokenSource();
        using (cancellations.Register("run_early", source))
        {
            Assert.True(source.IsCancellationRequested);
        }

        // The kept cancel was used up: a later registration of another source is not cancelled by it.
        using var again = new CancellationTokenSource();
        using (cancellations.Register("run_early", again))
        {
            Assert.False(again.IsCancellationRequested);
        }
    }

    [Fact]
    public void Cancel_OfARegisteredRun_CancelsAtOnce_AndOthersAreUntouched()
    {
        var cancellations = new RunCancellations(new ManualTimeProvider());
        using var mine = new CancellationTokenSource();
        using var other = new CancellationTokenSource();
        using var a = cancellations.Register("run_a", mine);
        using var b = cancellations.Register("run_b", other);
        cancellations.Cancel("run_a");
        Assert.True(mine.IsCancellationRequested);
        Assert.False(other.IsCancellationRequested);
    }

    [Fact]
    public void KeptCancels_ExpireAndAreBounded()
    {
        var time = new ManualTimeProvider();
        var cancellations = new RunCancellations(time);
        cancellations.Cancel("run_old");
        time.Advance(RunCancellations.EarlyCancelKept + TimeSpan.FromSeconds(1));
        cancellations.Cancel("run_new"); // a keep sweeps what expired
        using var old = new CancellationTokenSource();
        using (cancellations.Register("run_old", old))
        {
            Assert.False(old.IsCancellationRequested);
        }

        for (var i = 0; i < RunCancellations.EarlyCancelLimit + 10; i++)
        {
            cancellations.Cancel($"run_{i}");
        }
        using var first = new CancellationTokenSource();
        using var last = new CancellationTokenSource();
        using (cancellations.Register("run_0", first))
        using (cancellations.Register($"run_{RunCancellations.EarlyCancelLimit + 9}", last))
        {
            Assert.False(first.IsCancellationRequested);
            Assert.True(last.IsCancellationRequested);
        }
    }
}
