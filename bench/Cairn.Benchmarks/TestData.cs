namespace Cairn.Benchmarks;

/// <summary>Deterministic benchmark inputs (xorshift64*, so every run and machine sees the same bytes).</summary>
internal static class TestData
{
    /// <summary>Pseudo-random bytes: incompressible, no repeats — the chunker's and hash's worst case for speed.</summary>
    public static byte[] Random(int length, ulong seed = 0x9E3779B97F4A7C15)
    {
        var data = new byte[length];
        var x = seed;
        for (var i = 0; i + 8 <= length; i += 8)
        {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            BitConverter.TryWriteBytes(data.AsSpan(i), x * 0x2545F4914F6CDD1D);
        }

        return data;
    }

    /// <summary>Text-like bytes (JavaScript-ish tokens): compresses about as well as node_modules does with zstd -3.</summary>
    public static byte[] Text(int length)
    {
        string[] words = ["function", "return", "const", "module.exports", "require(", "=>", "{", "}", "(", ")", ";", "\n", "  ", "this.", "undefined", "null", "value", "index", "options", "callback", "if (", "else", "throw new Error(", "'use strict';"];
        var rng = new Random(42);
        var text = new System.Text.StringBuilder(length + 32);
        while (text.Length < length)
        {
            text.Append(words[rng.Next(words.Length)]).Append(rng.Next(4) == 0 ? rng.Next(1000).ToString(System.Globalization.CultureInfo.InvariantCulture) : " ");
        }

        return System.Text.Encoding.ASCII.GetBytes(text.ToString(0, length));
    }
}
