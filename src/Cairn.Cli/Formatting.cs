using System.Globalization;
using Cairn.Manifests;
using Cairn.Repository;

namespace Cairn.Cli;

/// <summary>Human-readable sizes, modes and listings.</summary>
internal static class Formatting
{
    public static string Bytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {units[unit]}");
    }

    /// <summary>A byte count as written on a command line: digits with an optional K, M or G suffix (powers of 1024).</summary>
    public static int ParseSize(string text)
    {
        var multiplier = char.ToUpperInvariant(text.Length > 0 ? text[^1] : ' ') switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1L };
        var digits = multiplier == 1 ? text : text[..^1];
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value * multiplier > int.MaxValue)
        {
            throw new UsageException($"'{text}' is not a size (digits with an optional K, M or G suffix)");
        }

        return (int)(value * multiplier);
    }

    public static string KindName(EntryKind kind) => kind switch
    {
        EntryKind.Regular => "file",
        EntryKind.Directory => "dir",
        EntryKind.Symlink => "symlink",
        EntryKind.Hardlink => "hardlink",
        EntryKind.Fifo => "fifo",
        EntryKind.CharDevice => "chardev",
        EntryKind.BlockDevice => "blockdev",
        _ => "unknown",
    };

    /// <summary>An <c>ls -l</c> style mode string.</summary>
    public static string Mode(EntryKind kind, uint mode)
    {
        var type = kind switch
        {
            EntryKind.Directory => 'd',
            EntryKind.Symlink => 'l',
            EntryKind.Fifo => 'p',
            EntryKind.CharDevice => 'c',
            EntryKind.BlockDevice => 'b',
            _ => '-',
        };
        Span<char> s = stackalloc char[10];
        s[0] = type;
        const string rwx = "rwxrwxrwx";
        for (var i = 0; i < 9; i++)
        {
            s[i + 1] = (mode & (1u << (8 - i))) != 0 ? rwx[i] : '-';
        }

        if ((mode & 0x800) != 0)
        {
            s[3] = s[3] == 'x' ? 's' : 'S';
        }

        if ((mode & 0x400) != 0)
        {
            s[6] = s[6] == 'x' ? 's' : 'S';
        }

        if ((mode & 0x200) != 0)
        {
            s[9] = s[9] == 'x' ? 't' : 'T';
        }

        return new string(s);
    }

    public static DateTimeOffset Time(long ns) => DateTimeOffset.UnixEpoch.AddTicks(ns / 100);

    public static SnapshotListItem Item(SnapshotRecord r) => new(r.Id.ToString(), r.Kind, r.Tree, r.Parent, r.Time, r.Host, r.Source, r.Paths, r.Tags, r.Stats);

    public static string ShortId(string? id) => id is null ? "-" : id[..12];
}
