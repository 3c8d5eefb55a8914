using System.Text;

namespace Cairn.Cli;

/// <summary>
/// The command line as the bytes it was given in. .NET decodes arguments as UTF-8 and replaces what is not with
/// U+FFFD, so a file name that is not UTF-8 (any bytes are a Linux name) reaches a command changed; the kernel keeps
/// the original in /proc/self/cmdline.
/// </summary>
internal static class RawArguments
{
    /// <summary>
    /// The bytes of the argument <paramref name="value"/>: its UTF-8 when it decoded without a replacement, else what
    /// /proc/self/cmdline holds at its position. Main's arguments are that file's last entries (before them: the
    /// program, or the dotnet host and cairn.dll). Its UTF-8 all the same where that cannot be told: the entries do not
    /// decode to the arguments, or two arguments decode to <paramref name="value"/> from different bytes.
    /// </summary>
    public static byte[] BytesOf(string value)
    {
        var utf8 = Encoding.UTF8.GetBytes(value);
        if (!value.Contains('\uFFFD', StringComparison.Ordinal))
        {
            return utf8;
        }

        var arguments = Environment.GetCommandLineArgs()[1..];
        byte[] cmdline;
        try
        {
            cmdline = File.ReadAllBytes("/proc/self/cmdline");
        }
        catch (IOException)
        {
            return utf8; // no /proc
        }

        var raw = new List<byte[]>();
        var all = cmdline.AsSpan();
        all = all.IsEmpty || all[^1] != 0 ? all : all[..^1]; // each entry ends with a NUL
        foreach (var range in all.Split((byte)0))
        {
            raw.Add(all[range].ToArray());
        }

        var offset = raw.Count - arguments.Length;
        byte[]? found = null;
        for (var i = 0; i < arguments.Length && offset >= 0; i++)
        {
            var bytes = raw[offset + i];
            if (Encoding.UTF8.GetString(bytes) != arguments[i])
            {
                return utf8;
            }

            if (arguments[i] == value)
            {
                if (found is not null && !found.AsSpan().SequenceEqual(bytes))
                {
                    return utf8;
                }

                found = bytes;
            }
        }

        return found ?? utf8;
    }
}
