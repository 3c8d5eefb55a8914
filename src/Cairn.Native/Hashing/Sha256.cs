namespace Cairn.Native.Hashing;

/// <summary>
/// SHA-256, the hash behind every content id, manifest checksum and pack id, computed by nettle rather than by
/// <c>System.Security.Cryptography</c>. Shaped like the framework's <c>SHA256.HashData</c> and <c>IncrementalHash</c>.
/// </summary>
/// <remarks>
/// Why not the framework's: on Linux it is OpenSSL, and loading libcrypto (4.7 MB) and initialising OpenSSL 3 takes
/// ~12 ms from a cold page cache, which a mount would wait for at the first snapshot record it verifies; nettle
/// (0.3 MB) needs no initialisation. Both use the CPU's SHA instructions. Measured with bench/Cairn.Benchmarks
/// (Hashing/): 64 MiB as 4 KiB blocks, what a restore of an image verifies, hash in 0.94x the framework's time (nettle's
/// calls are cheaper); one 2 MiB buffer takes 1.11x (OpenSSL's loop is faster). docs/benchmarks.md has the run.
/// </remarks>
public static class Sha256
{
    /// <summary>The size of a digest, in bytes.</summary>
    public const int HashSizeInBytes = 32;

    /// <summary>Writes the SHA-256 of <paramref name="source"/> to the first 32 bytes of <paramref name="destination"/>.</summary>
    public static void HashData(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var hasher = default(Sha256Hasher);
        hasher.Append(source);
        hasher.GetHashAndReset(destination);
    }

    /// <summary>The SHA-256 of <paramref name="source"/>.</summary>
    public static byte[] HashData(ReadOnlySpan<byte> source)
    {
        var digest = new byte[HashSizeInBytes];
        HashData(source, digest);
        return digest;
    }

    /// <summary>
    /// Writes the SHA-256 of each message (a slice of <paramref name="source"/>) to <paramref name="digests"/>, 32 bytes
    /// per message in the order given: the blocks of an image or the chunks of a frame, hashed together. Where the CPU
    /// has AVX-512, sixteen at a time (<see cref="Sha256x16"/>), else one by one.
    /// </summary>
    public static void HashMany(ReadOnlySpan<byte> source, ReadOnlySpan<MessageRange> messages, Span<byte> digests)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(digests.Length, (long)messages.Length * HashSizeInBytes, nameof(digests));
        foreach (var message in messages)
        {
            if (message.Offset < 0 || message.Length < 0 || message.Offset > source.Length - message.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(messages), $"message ({message.Offset}, {message.Length}) is not inside the {source.Length}-byte source");
            }
        }

        if (messages.Length >= Sha256x16.BreakEven && Sha256x16.IsSupported)
        {
            Sha256x16.HashMany(source, messages, digests);
            return;
        }

        HashEach(source, messages, digests);
    }

    /// <summary>One message at a time through nettle: <see cref="HashMany"/> without vectors.</summary>
    internal static void HashEach(ReadOnlySpan<byte> source, ReadOnlySpan<MessageRange> messages, Span<byte> digests)
    {
        for (var i = 0; i < messages.Length; i++)
        {
            HashData(source.Slice(messages[i].Offset, messages[i].Length), digests.Slice(i * HashSizeInBytes, HashSizeInBytes));
        }
    }
}

/// <summary>One message of a <see cref="Sha256.HashMany"/> batch: <see cref="Length"/> bytes at <see cref="Offset"/> in its source.</summary>
public readonly record struct MessageRange(int Offset, int Length);

/// <summary>
/// SHA-256 over data appended piece by piece. The state lives in the struct itself: no native allocation, nothing to
/// dispose. nettle keeps no pointer into it between calls, so it may live anywhere (a field of a class included; each
/// call pins it), and a copy carries on from the state copied. <c>default</c> is ready to use.
/// </summary>
public unsafe struct Sha256Hasher
{
    private Sha256Context _context;
    private bool _started;

    /// <summary>Adds <paramref name="data"/> to the hashed input.</summary>
    public void Append(ReadOnlySpan<byte> data)
    {
        fixed (Sha256Context* context = &_context)
        fixed (byte* bytes = data)
        {
            Start(context);
            NettleNative.Sha256Update(context, (nuint)data.Length, bytes);
        }
    }

    /// <summary>Writes the digest of everything appended so far to <paramref name="destination"/> and starts afresh.</summary>
    public void GetHashAndReset(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Sha256.HashSizeInBytes, nameof(destination));
        fixed (Sha256Context* context = &_context)
        fixed (byte* digest = destination)
        {
            Start(context);
            NettleNative.Sha256Digest(context, Sha256.HashSizeInBytes, digest);
        }

        _started = false;
    }

    /// <summary>
    /// A hasher that carries on from <paramref name="state"/>, the eight state words after <paramref name="blocks"/>
    /// whole 64-byte blocks of a message (what <see cref="Sha256x16"/> hands over mid-message): the next byte appended
    /// is byte <c>64 * blocks</c> of the message.
    /// </summary>
    internal static Sha256Hasher Resume(ReadOnlySpan<uint> state, ulong blocks)
    {
        var hasher = default(Sha256Hasher);
        hasher._context.Resume(state, blocks);
        hasher._started = true;
        return hasher;
    }

    private void Start(Sha256Context* context)
    {
        if (!_started)
        {
            NettleNative.Sha256Init(context);
            _started = true;
        }
    }
}
