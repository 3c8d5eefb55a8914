using Cairn.Mount;

namespace Cairn.Tests.Mount;

public sealed class PendingFrameTests
{
    [Fact]
    public async Task Joining_a_delivered_fetch_gets_the_frame_until_it_is_released_then_null_never_a_task_that_hangs()
    {
        var pending = new PendingFrame(7);
        var early = pending.TryJoin()!;
        var frame = new DecodedFrame(7, 100);
        pending.Complete(frame);

        var decoded = (await early.WaitAsync(TimeSpan.FromSeconds(5)))!;
        Assert.Same(frame, decoded);
        var late = pending.TryJoin()!;
        Assert.True(late.IsCompletedSuccessfully);

        decoded.Release();
        (await late)!.Release();
        frame.Release(); // the fetch lets go: nobody holds the buffer any more

        // A reader that found this fetch in the in-flight table just before it was removed must not wait forever.
        Assert.Null(pending.TryJoin());
    }

    [Fact]
    public async Task An_abandoned_fetch_cannot_be_joined_and_one_with_readers_cannot_be_abandoned()
    {
        var idle = new PendingFrame(1);
        Assert.True(idle.TryAbandon());
        Assert.Null(idle.TryJoin());

        var busy = new PendingFrame(2);
        var waiter = busy.TryJoin()!;
        Assert.False(busy.TryAbandon());
        busy.Fail(new IOException("gone"));
        await Assert.ThrowsAsync<IOException>(() => waiter);
    }

    [Fact]
    public async Task A_fetch_that_finds_its_frame_cached_sends_every_reader_to_the_cache()
    {
        var pending = new PendingFrame(3);
        var early = pending.TryJoin()!;
        pending.CompleteCached();

        Assert.Null(await early.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Null(await pending.TryJoin()!);
    }
}
