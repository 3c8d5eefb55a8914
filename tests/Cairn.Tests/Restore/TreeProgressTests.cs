using Cairn.Restore;

namespace Cairn.Tests.Restore;

/// <summary><see cref="TreeProgress"/>: a decode thread waits for its file's directory, and never forever.</summary>
public sealed class TreeProgressTests
{
    [Fact]
    public async Task A_waiter_is_released_once_its_entry_exists_not_before()
    {
        var tree = new TreeProgress();
        tree.Advance(3);
        var waiter = Task.Run(() => tree.WaitFor(5));

        await Task.Delay(50);
        tree.Advance(5);
        await Task.Delay(50);
        Assert.False(waiter.IsCompleted);

        tree.Advance(6);
        await waiter.WaitAsync(TimeSpan.FromSeconds(10));
        tree.WaitFor(2); // already there: returns at once
    }

    [Fact]
    public async Task A_failed_structure_phase_releases_every_waiter_with_its_error()
    {
        var tree = new TreeProgress();
        var waiters = Enumerable.Range(0, 3).Select(i => Task.Run(() => tree.WaitFor(10 + i))).ToArray();
        await Task.Delay(50);
        var failure = new IOException("mkdirat 'x': No space left on device (ENOSPC)");

        tree.Fail(failure);

        foreach (var waiter in waiters)
        {
            Assert.Same(failure, await Assert.ThrowsAsync<IOException>(() => waiter.WaitAsync(TimeSpan.FromSeconds(10))));
        }

        Assert.Same(failure, Assert.Throws<IOException>(() => tree.WaitFor(20)));
    }
}
