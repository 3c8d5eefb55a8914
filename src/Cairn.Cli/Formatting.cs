using System.Globalization;
using Cairn.Manifests;
using Cairn.Repository;

namespace Cairn.Cli;

/// <summary>Human-readable sizes, modes and listings.</summary>
internal static class Formatting
{
    /// <summary>" (and X stored again, ...)" after a run's new data, when it stored blocks again (see ParentLayout); else empty.</summary>
    public static string StoredAgain(SnapshotStats stats) => stats switch
    {
        { RewrittenBytes: null } => "",
        { Relayout: SnapshotStats.RelayoutRequested } => $" (and {Bytes(stats.RewrittenBytes.Value)} stored again: --relayout)",
        _ => $" (and {Bytes(stats.RewrittenBytes.Value)} stored again, out of frames the lineage mostly no longer uses)",
    };

    /// <summary>A count and its noun, plural unless it is one: "1 frame", "2 frames" (nouns with a plain -s plural).</summary>
    public static string Count(long count, string noun) => $"{count:N0} {noun}{(count == 1 ? "" : "s")}";

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

    /// <summary>Parses a size such as <c>2G</c>, <c>512M</c>, <c>1.5GiB</c>, <c>64k</c> or a plain number of bytes (units are powers of 1024).</summary>
    public static long ParseBytes(string text, string what)
    {
        var s = text.Trim();
        var unit = s.TrimEnd('B', 'b').TrimEnd('i');
        var shift = unit.Length == 0 ? -1 : char.ToUpperInvariant(unit[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        var number = shift > 0 ? unit[..^1] : s;
        if (shift < 0 || !double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || value * Math.Pow(2, shift) > long.MaxValue)
        {
            throw new UsageException($"{what}: '{text}' is not a size (examples: 2G, 512M, 1048576)");
        }

        return (long)(value * Math.Pow(2, shift));
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
