using System.Collections.Concurrent;
using Cairn.Native.Zstd;

namespace Cairn.Format;

/// <summary>
/// Shared zstd contexts. A level-3 compression context holds several MiB of tables, so contexts are pooled
/// (at most as many as ever run at once) instead of being thread-static: blocking file reads make the thread pool
/// grow, and one context per thread would grow the process with it.
/// </summary>
public static class CodecPool
{
    private static readonly ConcurrentBag<ZstdEncoder> s_encoders = [];
    private static readonly ConcurrentBag<ZstdDecoder> s_decoders = [];

    public static ZstdEncoder RentEncoder(int level)
    {
        while (s_encoders.TryTake(out var encoder))
        {
            if (encoder.Level == level)
            {
                return encoder;
            }

            encoder.Dispose();
        }

        return new ZstdEncoder(level);
    }

    public static void Return(ZstdEncoder encoder) => s_encoders.Add(encoder);

    public static ZstdDecoder RentDecoder() => s_decoders.TryTake(out var decoder) ? decoder : new ZstdDecoder();

    public static void Return(ZstdDecoder decoder) => s_decoders.Add(decoder);
}
