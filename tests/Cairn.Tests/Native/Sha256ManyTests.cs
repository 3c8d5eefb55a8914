using Cairn.Native.Hashing;
using FrameworkSha256 = System.Security.Cryptography.SHA256;

namespace Cairn.Tests.Native;

/// <summary>
/// <see cref="Sha256.HashMany"/>: every message's digest, whatever the batch's size, lengths and order, on the vector
/// path (AVX-512, sixteen lanes) where this CPU has it and one by one otherwise, checked against the framework.
/// </summary>
public sealed class Sha256ManyTests
{
    [Fact]
    public void Equal_blocks_as_an_image_holds_them()
    {
        var random = new Random(1);
        var data = new byte[4096 * 37];
        random.NextBytes(data);
        MessageRange[] blocks = [.. Enumerable.Range(0, 37).Select(i => new MessageRange(i * 4096, 4096))];

        AssertDigests(data, blocks);
    }

    [Fact]
    public void Mixed_lengths_around_the_padding_boundaries_in_any_order()
    {
        var random = new Random(2);
        var data = new byte[1 << 20];
        random.NextBytes(data);
        for (var round = 0; round < 40; round++)
        {
            // Lengths where the padding takes one block or two (55, 56, 63, 64, 119, 120...), and a few long ones, so
            // that lanes finish at different steps and take new messages mid-batch.
            var count = random.Next(1, 70);
            var messages = new MessageRange[count];
            for (var i = 0; i < count; i++)
            {
                var length = random.Next(4) switch
                {
                    0 => random.Next(0, 130),
                    1 => (64 * random.Next(0, 6)) + random.Next(54, 58),
                    2 => 4096,
                    _ => random.Next(0, 70_000),
                };
                messages[i] = new MessageRange(random.Next(0, data.Length - length + 1), length);
            }

            AssertDigests(data, messages);
        }
    }

    [Fact]
    public void Long_messages_left_alone_in_the_lanes_are_finished_mid_message_one_by_one()
    {
        // Sixteen lanes start together; the twelve short messages end after two blocks, leaving four lanes busy with
        // long ones, which are then finished from the state their lanes reached (two blocks in, one ending in a
        // partial block).
        var data = new byte[1 << 20];
        new Random(4).NextBytes(data);
        MessageRange[] messages = [.. Enumerable.Range(0, 12).Select(i => new MessageRange(i * 1000, 100)), new(200_000, 100_000), new(300_000, 99_999), new(400_000, 65_536), new(500_000, 64 * 1000)];

        AssertDigests(data, messages);
    }

    [Fact]
    public void Overlapping_and_repeated_messages_each_get_their_digest()
    {
        var data = new byte[10_000];
        new Random(3).NextBytes(data);
        MessageRange[] messages = [.. Enumerable.Range(0, 20).Select(i => new MessageRange(i * 7, 5000)), new(0, 5000), new(0, 0), new(9999, 1)];

        AssertDigests(data, messages);
    }

    [Fact]
    public void Messages_outside_the_source_or_too_small_a_destination_are_refused()
    {
        var data = new byte[100];
        Assert.Throws<ArgumentOutOfRangeException>(() => Sha256.HashMany(data, [new MessageRange(50, 51)], new byte[32]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Sha256.HashMany(data, [new MessageRange(-1, 10)], new byte[32]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Sha256.HashMany(data, [new MessageRange(0, -1)], new byte[32]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Sha256.HashMany(data, [new MessageRange(0, 10), new MessageRange(0, 10)], new byte[63]));
    }

    [Fact]
    public void More_messages_than_the_stack_holds_an_order_for()
    {
        var data = new byte[4096 * 2000];
        new Random(5).NextBytes(data);
        MessageRange[] blocks = [.. Enumerable.Range(0, 2000).Select(i => new MessageRange(i * 4096, 4096 - (i % 3)))];

        AssertDigests(data, blocks);
    }

    [Fact]
    public void Lanes_between_their_two_padding_blocks_finish_in_the_lanes()
    {
        // Ten empty messages end after one step, leaving six lanes busy: too few to keep, but each of them is between
        // the two padding blocks of a 60-byte message, so they must take one more step rather than be handed over.
        var data = new byte[1000];
        new Random(6).NextBytes(data);
        MessageRange[] messages = [.. Enumerable.Range(0, 10).Select(i => new MessageRange(i, 0)), .. Enumerable.Range(0, 6).Select(i => new MessageRange(100 * i, 60))];

        AssertDigests(data, messages);
    }

    private static void AssertDigests(byte[] data, MessageRange[] messages)
    {
        var expected = new byte[messages.Length * Sha256.HashSizeInBytes];
        for (var i = 0; i < messages.Length; i++)
        {
            FrameworkSha256.HashData(data.AsSpan(messages[i].Offset, messages[i].Length), expected.AsSpan(i * Sha256.HashSizeInBytes));
        }

        var viaBatch = new byte[expected.Length + 5];
        viaBatch.AsSpan().Fill(0xEE);
        Sha256.HashMany(data, messages, viaBatch);
        Assert.Equal(expected, viaBatch[..expected.Length]);
        Assert.All(viaBatch[expected.Length..], b => Assert.Equal(0xEE, b));

        var oneByOne = new byte[expected.Length];
        Sha256.HashEach(data, messages, oneByOne);
        Assert.Equal(expected, oneByOne);

        if (Sha256x16.IsSupported && messages.Length > 0)
        {
            var vector = new byte[expected.Length];
            Sha256x16.HashMany(data, messages, vector); // below the batch minimum too: the lanes' bookkeeping with most of them idle
            Assert.Equal(expected, vector);
        }
    }
}
