using System.Text;
using Cairn.Native.Hashing;
using FrameworkSha256 = System.Security.Cryptography.SHA256;

namespace Cairn.Tests.Native;

/// <summary>The nettle binding against the published test vectors, and against the framework's SHA-256 on random data.</summary>
public sealed class Sha256Tests
{
    [Theory]
    [InlineData("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")]
    [InlineData("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")]
    public void Known_vectors(string message, string expected)
    {
        Assert.Equal(expected, Convert.ToHexStringLower(Sha256.HashData(Encoding.ASCII.GetBytes(message))));
    }

    [Fact]
    public void One_million_a_appended_in_uneven_pieces()
    {
        var data = new byte[1_000_000];
        data.AsSpan().Fill((byte)'a');
        var hasher = default(Sha256Hasher);
        for (var offset = 0; offset < data.Length;)
        {
            var length = Math.Min(1 + (offset % 977), data.Length - offset);
            hasher.Append(data.AsSpan(offset, length));
            offset += length;
        }

        Span<byte> digest = stackalloc byte[Sha256.HashSizeInBytes];
        hasher.GetHashAndReset(digest);
        Assert.Equal("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", Convert.ToHexStringLower(digest));
    }

    [Fact]
    public void Agrees_with_the_framework_at_every_length_around_the_block_boundaries()
    {
        var random = new Random(20261122);
        int[] lengths = [.. Enumerable.Range(0, 300), 4095, 4096, 4097, 65536, 1 << 20, (1 << 20) + 3];
        var data = new byte[lengths[^1] + 3]; // room to start each input at any of the first four offsets
        random.NextBytes(data);
        Span<byte> digest = stackalloc byte[Sha256.HashSizeInBytes];
        foreach (var length in lengths)
        {
            var input = data.AsSpan(random.Next(0, 4), length);
            Sha256.HashData(input, digest);
            Assert.True(digest.SequenceEqual(FrameworkSha256.HashData(input)), $"length {input.Length}");
        }
    }

    [Fact]
    public void Get_hash_and_reset_starts_afresh_and_writes_only_the_digest()
    {
        var first = Encoding.ASCII.GetBytes("the first input");
        var second = Encoding.ASCII.GetBytes("and the second");
        var hasher = default(Sha256Hasher);
        hasher.Append(first);
        var destination = new byte[Sha256.HashSizeInBytes + 8];
        destination.AsSpan().Fill(0xEE);
        hasher.GetHashAndReset(destination);
        Assert.Equal(FrameworkSha256.HashData(first), destination[..Sha256.HashSizeInBytes]);
        Assert.All(destination[Sha256.HashSizeInBytes..], b => Assert.Equal(0xEE, b));

        hasher.Append(second);
        hasher.GetHashAndReset(destination);
        Assert.Equal(FrameworkSha256.HashData(second), destination[..Sha256.HashSizeInBytes]);

        hasher.GetHashAndReset(destination); // nothing appended since: the hash of nothing
        Assert.Equal(FrameworkSha256.HashData([]), destination[..Sha256.HashSizeInBytes]);
    }

    [Fact]
    public void A_destination_shorter_than_a_digest_is_refused()
    {
        var hasher = default(Sha256Hasher);
        hasher.Append([1, 2, 3]);

        Assert.Throws<ArgumentOutOfRangeException>(() => hasher.GetHashAndReset(new byte[Sha256.HashSizeInBytes - 1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Sha256.HashData([1, 2, 3], new byte[8]));
    }
}
