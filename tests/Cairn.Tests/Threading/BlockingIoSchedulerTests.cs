using Cairn.Threading;

namespace Cairn.Tests.Threading;

public sealed class BlockingIoSchedulerTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Blocking_work_runs_side_by_side_up_to_the_maximum_on_threads_of_its_own()
    {
        const int max = 6;
        using var scheduler = new BlockingIoScheduler(max, "test-io");

        // Every item blocks until `max` of them are running at once: this completes only if the scheduler runs
        // that many together, whatever the thread pool's size.
        using var allRunning = new Barrier(max);
        var running = 0;
        var peak = 0;
        var work = Enumerable.Range(0, 3 * max).Select(_ => scheduler.Run(() =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref peak, now);
            var together = allRunning.SignalAndWait(s_timeout);
            Interlocked.Decrement(ref running);
            return (together, Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread.Name);
        }, CancellationToken.None)).ToArray();

        var results = await Task.WhenAll(work).WaitAsync(s_timeout);

        Assert.All(results, r => Assert.True(r.together, "an item waited for the others in vain"));
        Assert.All(results, r => Assert.False(r.IsThreadPoolThread));
        Assert.All(results, r => Assert.Equal("test-io", r.Name));
        Assert.Equal(max, peak);
    }

    [Fact]
    public async Task Off_the_pool_work_runs_on_a_caller_of_its_own_and_on_the_schedulers_threads_for_the_pool()
    {
        using var scheduler = new BlockingIoScheduler(2, "test-io");

        // A thread of its own: the work runs right there, and a failure comes back in the task.
        (int Caller, int Ran, Task<int> Failed)? own = null;
        var thread = new Thread(() =>
        {
            var ran = scheduler.RunOffThePool(() => Environment.CurrentManagedThreadId, CancellationToken.None);
            var failed = scheduler.RunOffThePool<int>(() => throw new IOException("disk"), CancellationToken.None);
            own = (Environment.CurrentManagedThreadId, ran.IsCompletedSuccessfully ? ran.Result : -1, failed);
        });
        thread.Start();
        thread.Join();

        Assert.NotNull(own);
        Assert.Equal(own.Value.Caller, own.Value.Ran);
        Assert.Equal("disk", (await Assert.ThrowsAsync<IOException>(() => own.Value.Failed)).Message);

        // A thread of the pool: the work goes to the scheduler's threads.
        var name = await Task.Run(() => scheduler.RunOffThePool(() => Thread.CurrentThread.Name, CancellationToken.None)).WaitAsync(s_timeout);
        Assert.Equal("test-io", name);
    }

    [Fact]
    public async Task Work_queued_before_dispose_still_runs_and_later_work_is_refused()
    {
        var scheduler = new BlockingIoScheduler(1, "test-io");
        using var gate = new ManualResetEventSlim();
        var first = scheduler.Run(() => gate.Wait(s_timeout), CancellationToken.None);
        var second = scheduler.Run(() => 42, CancellationToken.None);

        scheduler.Dispose();
        gate.Set();

        Assert.True(await first.WaitAsync(s_timeout));
        Assert.Equal(42, await second.WaitAsync(s_timeout));
        Assert.Throws<TaskSchedulerException>(() => { _ = scheduler.Run(() => 0, CancellationToken.None); });
    }

    [Fact]
    public async Task What_awaits_the_work_goes_on_elsewhere_leaving_the_thread_to_the_next_call()
    {
        using var scheduler = new BlockingIoScheduler(1, "test-io");

        for (var i = 0; i < 20; i++)
        {
            // A synchronous continuation runs on the thread that completes the task, unless the task forbids it.
            var continuedOn = await scheduler.Run(() =>
                {
                    Thread.Sleep(1);
                    return 0;
                }, CancellationToken.None)
                .ContinueWith(_ => Thread.CurrentThread.Name, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

            Assert.NotEqual("test-io", continuedOn);
        }
    }

    [Fact]
    public async Task A_failure_reaches_the_awaiting_caller()
    {
        using var scheduler = new BlockingIoScheduler(2, "test-io");

        var failure = await Assert.ThrowsAsync<IOException>(() => scheduler.Run<int>(() => throw new IOException("disk gone"), CancellationToken.None));

        Assert.Equal("disk gone", failure.Message);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
