using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace Cairn.Native.Linux;

/// <summary>Helpers for file names as the kernel sees them: bytes, not text.</summary>
public static class PathBytes
{
    /// <summary>
    /// True if <paramref name="name"/> can be one path component: non-empty, no '/', no NUL, not "." or "..".
    /// (Length limits are the file system's business; most refuse more than 255 bytes with ENAMETOOLONG.)
    /// </summary>
    public static bool IsValidName(ReadOnlySpan<byte> name) =>
        !name.IsEmpty
        && name.IndexOfAny((byte)'/', (byte)0) < 0
        && !(name.Length == 1 && name[0] == (byte)'.')
        && !(name.Length == 2 && name[0] == (byte)'.' && name[1] == (byte)'.');

    /// <summary>
    /// A name for messages: valid UTF-8 shows as is; bytes that are not valid UTF-8 and control characters (which would
    /// break a one-line message, e.g. an embedded newline) show as <c>\xNN</c>, and a backslash as <c>\\</c>, so the
    /// display is unambiguous.
    /// </summary>
    public static string Display(ReadOnlySpan<byte> name)
    {
        var text = new StringBuilder(name.Length);
        while (!name.IsEmpty)
        {
            var status = Rune.DecodeFromUtf8(name, out var rune, out var consumed);
            if (status == OperationStatus.Done && !Rune.IsControl(rune))
            {
                if (rune.Value == '\\')
                {
                    text.Append('\\');
                }

                text.Append(rune.ToString());
            }
            else
            {
                foreach (var b in name[..consumed])
                {
                    text.Append("\\x").Append(b.ToString("x2", CultureInfo.InvariantCulture));
                }
            }

            name = name[consumed..];
        }

        return text.ToString();
    }

    /// <summary>
    /// The bytes <see cref="Display"/> shows as <paramref name="text"/>, so that a name can be given back as it was
    /// printed: <c>\\</c> is a backslash, <c>\xNN</c> the byte NN, anything else its UTF-8. False if a backslash
    /// starts neither.
    /// </summary>
    public static bool TryParseDisplay(string text, [NotNullWhen(true)] out byte[]? bytes)
    {
        var result = new List<byte>(text.Length);
        var plain = 0; // start of the characters since the last escape, copied as UTF-8 when the next one begins
        for (var i = 0; i < text.Length;)
        {
            if (text[i] != '\\')
            {
                i++;
                continue;
            }

            result.AddRange(Encoding.UTF8.GetBytes(text[plain..i]));
            if (i + 1 < text.Length && text[i + 1] == '\\')
            {
                result.Add((byte)'\\');
                i += 2;
            }
            else if (i + 4 <= text.Length && text[i + 1] == 'x' && byte.TryParse(text.AsSpan(i + 2, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b))
            {
                result.Add(b);
                i += 4;
            }
            else
            {
                bytes = null;
                return false;
            }

            plain = i;
        }

        result.AddRange(Encoding.UTF8.GetBytes(text[plain..]));
        bytes = [.. result];
        return true;
    }
}
