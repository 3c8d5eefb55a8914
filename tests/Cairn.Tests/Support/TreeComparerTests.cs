namespace Cairn.Tests.Support;

/// <summary>
/// The comparer is what every round-trip test trusts: each kind of difference it claims to see must be seen.
/// Each case copies a small tree with <c>cp -a</c> (equal), changes one thing in the copy and expects that change among
/// the differences (a side effect such as a directory's mtime may be reported too).
/// </summary>
public sealed class TreeComparerTests
{
    [Fact]
    public void A_copy_made_with_cp_a_is_equal()
    {
        using var temp = new TempDir();
        var (source, copy) = SourceAndCopy(temp);

        Assert.Empty(TreeComparer.Compare(source, copy));
    }

    public static TheoryData<string, string> Changes => new()
    {
        { "printf x | dd of=f conv=notrunc bs=1 seek=5 status=none", "f: content differs at offset 5" },
        { "chmod 0640 f", "f: mode 0644 != 0640" },
        { "chown 7:8 f", "f: owner 0:0 != 7:8" },
        { "touch -m -h -d @1000000000.000000002 f", "f: mtime 1000000000000000001 ns != 1000000000000000002 ns" },
        { "touch -m -h -d @5 l", "l: mtime" },
        { "touch -m -d @5 d", "d: mtime" },
        { "ln -sfn elsewhere l", "l: symlink target 'f' != 'elsewhere'" },
        { "rm h && cp -p f h", "h: hardlink group: same inode as 'f' expected, same inode as 'h' found" },
        { "setfattr -n user.k -v 2 f", "f: xattrs [user.k=31] != [user.k=32]" },
        { "cp --sparse=never -p s s2 && mv s2 s", "s: data extents" },
        { "rm c && mknod -m 0644 c c 1 5 && touch -h -d @1000000000.000000001 c", "c: device 1:3 != 1:5" },
        { "rm p && mkdir p && chmod 0644 p && touch -d @1000000000.000000001 p", "p: kind Fifo != Directory" },
        { "touch d/new", "d/new: unexpected" },
        { "rm d/inner", "d/inner: missing" },
        { "chmod 0700 .", "(root): mode" },
    };

    [Theory]
    [MemberData(nameof(Changes))]
    public void A_change_is_reported(string change, string expected)
    {
        using var temp = new TempDir();
        var (source, copy) = SourceAndCopy(temp);
        Shell.Run(change, copy);

        var differences = TreeComparer.Compare(source, copy);

        Assert.Contains(differences, d => d.StartsWith(expected, StringComparison.Ordinal));
    }

    private static (string Source, string Copy) SourceAndCopy(TempDir temp)
    {
        var source = temp.CreateSub("a");
        Shell.Run(
            "printf 'hello world' > f && ln f h && ln -s f l && mkdir d && echo in > d/inner && mkfifo p && mknod c c 1 3"
            + " && truncate -s 1M s && printf data | dd of=s bs=1 seek=65536 conv=notrunc status=none"
            + " && setfattr -n user.k -v 1 f && chmod 0644 f && chmod 0755 . d"
            + " && touch -h -m -d @1000000000.000000001 f l p c s d/inner d .",
            source);
        var copy = temp.Sub("b");
        Shell.Run($"cp -a --sparse=always '{source}' '{copy}'", temp.Path);
        return (source, copy);
    }
}
