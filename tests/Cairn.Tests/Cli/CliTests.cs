using System.Text;
using System.Text.Json;
using Cairn.Format;
using Cairn.Repository;
using Cairn.Storage;
using Cairn.Tests.Support;

namespace Cairn.Tests.Cli;

/// <summary>The real <c>cairn</c> command in a child process: JSON output shapes, exit codes, and what it does to the disk.</summary>
public sealed class CliTests
{
    /// <summary>
    /// A command line that does not parse exits 2 with its errors and where to read the usage on standard error, and
    /// nothing on standard output (the parser printed its whole help there); with --json, one error object there. An
    /// unknown command with --help is such an error too (it printed the main help and exited 0).
    /// </summary>
    [Theory]
    [InlineData("Required argument missing for option: '--image'.|Try 'cairn snapshot --help'.", "snapshot", "--image")]
    [InlineData("Unrecognized command or argument 'check'.|Try 'cairn --help'.", "check", "--help")]
    [InlineData("Unrecognized command or argument 'check'.|Try 'cairn --help'.", "check")]
    [InlineData("Required argument missing for command: 'restore'.|Try 'cairn restore --help'.", "restore")]
    [InlineData("An argument is empty.|Try 'cairn restore --help'.", "restore", "latest", "")] // an internal error (exit 70) from .NET's path functions
    [InlineData("--tag is given an empty value.|Try 'cairn snapshot --help'.", "snapshot", ".", "--tag", "")]
    public async Task A_command_line_that_does_not_parse_gives_its_errors_on_standard_error_and_exits_2(string lines, params string[] arguments)
    {
        using var temp = new TempDir();
        var result = await CairnCli.RunAsync(temp.Sub("repo"), arguments);
        var json = await CairnCli.RunAsync(temp.Sub("repo"), ["--json", .. arguments]);

        Assert.Equal(2, result.ExitCode);
        Assert.Empty(result.Stdout);
        Assert.Equal(lines.Split('|').Select((l, i) => i == 0 ? $"cairn: {l}" : l), result.Stderr.TrimEnd().Split('\n'));
        Assert.Equal(2, json.ExitCode);
        var error = json.Json.GetProperty("error");
        Assert.Equal("usage", error.GetProperty("code").GetString());
        Assert.Equal(lines.Split('|')[0], error.GetProperty("message").GetString());
    }

    /// <summary>An empty repository location is bad usage; it silently meant the default repository.</summary>
    [Fact]
    public async Task An_empty_repository_location_is_refused()
    {
        var (exitCode, output, error) = await CairnCli.RunRawAsync(["-r", "", "snapshots"]);
        Assert.Equal(2, exitCode);
        Assert.Empty(output);
        Assert.StartsWith("cairn: -r is given an empty value.", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Init_snapshot_list_show_and_restore_print_the_documented_json()
    {
        using var temp = new TempDir();
        var repo = temp.Sub("repo");
        var source = temp.CreateSub("src");
        TreeGenerator.Generate(source, 21, TreeShape.Varied with { Depth = 5 });

        var init = await CairnCli.RunAsync(repo, "init", "--json");
        var again = await CairnCli.RunAsync(repo, "init", "--json");
        var snapshot = await CairnCli.RunAsync(repo, "snapshot", source, "--tag", "first", "--json");
        var list = await CairnCli.RunAsync(repo, "snapshots", "--json");

        Assert.True(init.ExitCode == 0, init.ToString());
        Assert.Equal(repo, init.Json.GetProperty("repository").GetString());
        Assert.Matches("^[0-9a-f]{32}$", init.Json.GetProperty("id").GetString());
        AssertError(again, 1, "error", $"a repository already exists at {repo}");

        Assert.True(snapshot.ExitCode == 0, snapshot.ToString());
        var s = snapshot.Json;
        var id = s.GetProperty("id").GetString()!;
        Assert.Matches("^[0-9a-f]{64}$", id);
        Assert.Matches("^[0-9a-f]{64}$", s.GetProperty("tree").GetString());
        Assert.False(s.TryGetProperty("parent", out _));
        Assert.Equal(source, s.GetProperty("source").GetString());
        Assert.Equal(["first"], s.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal(0, s.GetProperty("skipped").GetArrayLength());
        Assert.Equal(0, s.GetProperty("warnings").GetArrayLength());
        var stats = s.GetProperty("stats");
        foreach (var name in new[] { "files", "directories", "symlinks", "others", "bytes", "bytesRead", "newBytes", "storedBytes", "chunks", "newChunks", "unchangedFiles" })
        {
            Assert.True(stats.GetProperty(name).GetInt64() >= 0, name);
        }

        Assert.True(stats.GetProperty("files").GetInt64() > 20);
        Assert.Equal(stats.GetProperty("bytes").GetInt64(), stats.GetProperty("bytesRead").GetInt64());
        Assert.True(s.GetProperty("requests").GetProperty("puts").GetInt64() >= 4); // pack, index, manifest, record, tag

        Assert.Equal(id, Assert.Single(list.Json.EnumerateArray()).GetProperty("id").GetString());

        var target = temp.Sub("out");
        var restore = await CairnCli.RunAsync(repo, "restore", id[..10], target, "--json");
        var show = await CairnCli.RunAsync(repo, "show", "first", "--json");

        Assert.True(restore.ExitCode == 0, restore.ToString());
        Assert.Equal(id, restore.Json.GetProperty("snapshot").GetString());
        Assert.Equal(target, restore.Json.GetProperty("target").GetString());
        Assert.Equal(0, restore.Json.GetProperty("warnings").GetArrayLength());
        TreeComparer.AssertEqual(source, target);

        Assert.True(show.ExitCode == 0, show.ToString());
        Assert.Equal(id, show.Json.GetProperty("snapshot").GetProperty("id").GetString());
        var entries = show.Json.GetProperty("entries").EnumerateArray().ToList();
        Assert.Equal(restore.Json.GetProperty("entries").GetInt64(), entries.Count);
        Assert.Equal("", entries[0].GetProperty("path").GetString());
    }

    [Fact]
    public async Task Errors_exit_with_a_code_and_one_json_object_or_one_line()
    {
        using var temp = new TempDir();
        var repo = temp.Sub("repo");
        var missing = await CairnCli.RunAsync(temp.Sub("nothing"), "snapshots", "--json");
        await CairnCli.RunAsync(repo, "init");

        var unknownJson = await CairnCli.RunAsync(repo, "restore", "deadbeef", temp.Sub("out"), "--json");
        var unknownText = await CairnCli.RunAsync(repo, "show", "deadbeef");
        var badSource = await CairnCli.RunAsync(repo, "snapshot", temp.Sub("no-such-dir"), "--json");

        AssertError(missing, 1, "error", $"no repository at {temp.Sub("nothing")} (run 'cairn init' first)");
        AssertError(unknownJson, 2, "usage", $"no snapshot or tag 'deadbeef' in {repo}");
        Assert.False(Directory.Exists(temp.Sub("out")));
        Assert.Equal(2, unknownText.ExitCode);
        Assert.Empty(unknownText.Stdout);
        Assert.Equal($"cairn: no snapshot or tag 'deadbeef' in {repo}\n", unknownText.Stderr);
        Assert.Equal(2, badSource.ExitCode);
        Assert.Equal("usage", badSource.Json.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Restore_refuses_a_non_empty_target_unless_replace_which_swaps_the_contents()
    {
        using var temp = new TempDir();
        var (repo, source, id) = await OneSnapshotAsync(temp, "new.txt", "from the snapshot");
        var target = temp.CreateSub("target");
        File.WriteAllText(Path.Combine(target, "old.txt"), "already there");
        var reference = temp.Sub("reference");
        Shell.Run($"cp -a '{target}' '{reference}'", temp.Path);

        var refused = await CairnCli.RunAsync(repo, "restore", id, target, "--json");

        AssertError(refused, 2, "usage", $"the target '{target}' is not empty (use --replace to replace its contents)");
        TreeComparer.AssertEqual(reference, target);

        var replaced = await CairnCli.RunAsync(repo, "restore", id, target, "--replace", "--json");

        Assert.True(replaced.ExitCode == 0, replaced.ToString());
        TreeComparer.AssertEqual(source, target);
        Assert.Equal(["reference", "repo", "src", "target"], Directory.EnumerateFileSystemEntries(temp.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Cat_writes_the_exact_bytes_holes_as_zeros()
    {
        using var temp = new TempDir();
        var repo = temp.Sub("repo");
        var source = temp.CreateSub("src");
        var big = XorShift.Bytes((2 << 20) + 777, seed: 9);
        File.WriteAllBytes(Path.Combine(source, "big.bin"), big);
        Shell.Run(
            "truncate -s 700K sparse.img && printf head | dd of=sparse.img conv=notrunc status=none"
            + " && printf middle | dd of=sparse.img bs=1 seek=300000 conv=notrunc status=none && ln big.bin link && mkdir dir",
            source);
        await CairnCli.RunAsync(repo, "init");
        await CairnCli.RunAsync(repo, "snapshot", source, "--tag", "t");

        var catBig = await CairnCli.RunAsync(repo, "cat", "t", "big.bin");
        var catLink = await CairnCli.RunAsync(repo, "cat", "t", "link");
        var catSparse = await CairnCli.RunAsync(repo, "cat", "t", "sparse.img");
        var catDirectory = await CairnCli.RunAsync(repo, "cat", "t", "dir", "--json");
        var catMissing = await CairnCli.RunAsync(repo, "cat", "t", "nope", "--json");

        Assert.True(catBig.ExitCode == 0, catBig.ToString());
        Assert.True(big.AsSpan().SequenceEqual(catBig.Stdout), "big.bin differs");
        Assert.True(big.AsSpan().SequenceEqual(catLink.Stdout), "the hardlink differs");
        Assert.True(File.ReadAllBytes(Path.Combine(source, "sparse.img")).AsSpan().SequenceEqual(catSparse.Stdout), "sparse.img differs");
        AssertError(catDirectory, 2, "usage", "'dir' is not a regular file");
        Assert.Equal(2, catMissing.ExitCode);
        Assert.Contains("no 'nope' in snapshot", catMissing.Json.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    /// <summary>
    /// A name that is not UTF-8 is found from its bytes as given (they reached cat as U+FFFD, and the file was not
    /// found), or as show prints it (\xNN; a backslash as \\); a name not found is said as show would print it.
    /// </summary>
    [Fact]
    public async Task Cat_finds_a_name_that_is_not_utf8_by_its_bytes_or_as_show_prints_it()
    {
        using var temp = new TempDir();
        var (repo, _) = await SnapshotOfAsync(temp, "printf raw > \"$(printf 'bad\\377')\" && printf backslash > 'a\\b'", "t");
        var show = await CairnCli.RunAsync(repo, "show", "t");

        // The shell puts the byte 0xff itself on the command line, as a user's shell does with $'bad\xff'.
        var raw = await ProcessRunner.RunAsync("sh", ["-c", "exec \"$@\" \"$(printf 'bad\\377')\"", "sh", .. CairnCli.Launcher, "--repo", repo, "cat", "t"]);
        var printed = await CairnCli.RunAsync(repo, "cat", "t", "bad\\xff");
        var backslash = await CairnCli.RunAsync(repo, "cat", "t", "a\\b");
        var backslashPrinted = await CairnCli.RunAsync(repo, "cat", "t", "a\\\\b");
        var missing = await ProcessRunner.RunAsync("sh", ["-c", "exec \"$@\" \"$(printf 'nope\\376')\"", "sh", .. CairnCli.Launcher, "--repo", repo, "cat", "t"]);

        Assert.Contains(" bad\\xff\n", show.Text, StringComparison.Ordinal);
        Assert.Contains(" a\\\\b\n", show.Text, StringComparison.Ordinal);
        Assert.True(raw.ExitCode == 0, raw.Error);
        Assert.Equal("raw", Encoding.UTF8.GetString(raw.Output));
        Assert.True(printed.ExitCode == 0, printed.ToString());
        Assert.Equal("raw", printed.Text);
        Assert.Equal("backslash", backslash.Text);
        Assert.Equal("backslash", backslashPrinted.Text);
        Assert.Equal(2, missing.ExitCode);
        Assert.StartsWith("cairn: no 'nope\\xfe' in snapshot ", missing.Error, StringComparison.Ordinal);
    }

    /// <summary>A hard link is listed with the size of the file it names, in text and JSON: it was listed with 0 bytes, its entry's own.</summary>
    [Fact]
    public async Task Show_lists_a_hard_link_with_the_size_of_its_file()
    {
        using var temp = new TempDir();
        var (repo, source, _) = await OneSnapshotAsync(temp, "data", "ten bytes!");
        Shell.Run("ln data link", source);
        var linked = await CairnCli.RunAsync(repo, "snapshot", source, "--tag", "t");
        Assert.True(linked.ExitCode == 0, linked.ToString());

        var text = await CairnCli.RunAsync(repo, "show", "t");
        var json = await CairnCli.RunAsync(repo, "show", "t", "--json");

        var line = Assert.Single(text.Text.Split('\n'), l => l.EndsWith(" link => data", StringComparison.Ordinal));
        Assert.Matches(@"^-\S+ +\d+ +\d+ +10 ", line);
        var entry = json.Json.GetProperty("entries").EnumerateArray().Single(e => e.GetProperty("path").GetString() == "link");
        Assert.Equal("hardlink", entry.GetProperty("kind").GetString());
        Assert.Equal("data", entry.GetProperty("target").GetString());
        Assert.Equal(10, entry.GetProperty("size").GetInt64());
    }

    /// <summary>
    /// Standard output that cannot be written (a full device) is named as what failed: it said 'No space left on
    /// device' alone, as though the repository were full, and with --json its error object could not be written
    /// either, which crashed with a stack trace. The error goes to standard error.
    /// </summary>
    [Theory]
    [InlineData("cat", "t", "f")]
    [InlineData("cat", "t", "f", "--json")]
    [InlineData("show", "t")]
    [InlineData("show", "t", "--json")]
    public async Task Output_that_cannot_be_written_is_said_to_be_standard_output(params string[] arguments)
    {
        using var temp = new TempDir();
        var (repo, _, id) = await OneSnapshotAsync(temp, "f", "some bytes");
        await CairnCli.RunAsync(repo, "tag", "t", id);

        var (exitCode, _, error) = await ProcessRunner.RunAsync("sh", ["-c", "exec \"$@\" > /dev/full", "sh", .. CairnCli.Launcher, "--repo", repo, .. arguments]);

        Assert.Equal(1, exitCode);
        Assert.Equal("cairn: cannot write to standard output: No space left on device\n", error);
    }

    /// <summary>Another error, with --json, when standard output cannot take its error object: said on standard error, with its own exit code.</summary>
    [Fact]
    public async Task An_error_that_cannot_be_written_as_json_is_said_on_standard_error()
    {
        using var temp = new TempDir();
        var (repo, _, _) = await OneSnapshotAsync(temp, "f", "some bytes");

        var (exitCode, _, error) = await ProcessRunner.RunAsync("sh", ["-c", "exec \"$@\" > /dev/full", "sh", .. CairnCli.Launcher, "--repo", repo, "show", "nope", "--json"]);

        Assert.Equal(2, exitCode);
        Assert.Equal($"cairn: no snapshot or tag 'nope' in {repo}\n", error);
    }

    [Fact]
    public async Task Diff_lists_exactly_the_changes_between_two_snapshots()
    {
        using var temp = new TempDir();
        var repo = temp.Sub("repo");
        var source = temp.CreateSub("src");
        Shell.Run("mkdir d && echo 1 > d/same && echo 2 > d/changed && echo 3 > gone && mkdir olddir && echo 4 > olddir/f && touch -d @1000000000 d . ", source);
        var big = XorShift.Bytes(4 << 20, seed: 9);
        File.WriteAllBytes(Path.Combine(source, "big"), big);
        await CairnCli.RunAsync(repo, "init");
        await CairnCli.RunAsync(repo, "snapshot", source, "--tag", "a");
        File.WriteAllBytes(Path.Combine(source, "big"), [(byte)'x', .. big]);
        Shell.Run("echo 22 > d/changed && rm gone && rm -r olddir && mkdir newdir && echo 5 > newdir/f && touch -d @1000000000 d", source);
        var second = await CairnCli.RunAsync(repo, "snapshot", source, "--tag", "b", "--parent", "auto", "--json");

        var json = await CairnCli.RunAsync(repo, "diff", "a", "b", "--json");
        var text = await CairnCli.RunAsync(repo, "diff", "a", "b");

        Assert.Equal(1, second.Json.GetProperty("stats").GetProperty("unchangedFiles").GetInt64());
        Assert.NotNull(second.Json.GetProperty("parent").GetString());
        Assert.Equal(
            ["added newdir", "modified big", "modified d/changed", "removed gone", "removed olddir"],
            json.Json.EnumerateArray().Select(c => $"{c.GetProperty("change").GetString()} {c.GetProperty("path").GetString()}").Order(StringComparer.Ordinal));
        long Changed(string path) => json.Json.EnumerateArray().Single(c => c.GetProperty("path").GetString() == path).GetProperty("changedBytes").GetInt64();
        Assert.Equal(5, Changed("d/changed")); // "2\n" became "22\n": the chunk each version holds and the other does not
        Assert.InRange(Changed("big"), 2, 2 * 1024 * 1024); // one byte put in front of 4 MiB: the chunks up to where the cut points agree again, not every chunk after it (8 MiB)
        Assert.Equal(0, text.ExitCode);
        Assert.Equal(["+ newdir", "- gone", "- olddir", "M d/changed  (5 B changed)"], text.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith("M big", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
        Assert.Equal("1 added, 2 removed, 2 modified\n", text.Stderr);
    }

    /// <summary>
    /// A change of xattrs alone (an ACL is one) is a modification, of a file or a directory; and so is a hard link
    /// whose file changed under the same path with its mtime put back: diff missed both (it compared neither xattrs nor
    /// the content a link names).
    /// </summary>
    [Fact]
    public async Task Diff_reports_changed_xattrs_and_hard_links_whose_file_changed()
    {
        using var temp = new TempDir();

        // The ACL as setfacl -m u:1000:r would write it (version 2; user_obj rw, user 1000 r, group_obj r, mask r, other r), through the attr tools the tests need anyway.
        var (text, json) = await DiffOfChangeAsync(
            temp,
            "mkdir d && echo one > f && echo two > acl && echo hl > h1 && ln h1 h2 && echo same > s && ln s t",
            "setfattr -n user.k -v v f && setfattr -n user.k -v v d"
            + " && setfattr -n system.posix_acl_access -v 0x0200000001000600ffffffff02000400e803000004000400ffffffff10000400ffffffff20000400ffffffff acl"
            + " && m=$(stat -c %y h1) && echo HL > h1 && touch -d \"$m\" h1");

        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Equal(
            ["M acl  (same data: metadata or holes changed)", "M d", "M f  (same data: metadata or holes changed)", "M h1  (6 B changed)", "M h2  (6 B changed)"],
            text.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
        Assert.Equal(6, json.Json.EnumerateArray().Single(c => c.GetProperty("path").GetString() == "h2").GetProperty("changedBytes").GetInt64());
    }

    [Fact]
    public async Task Tags_and_id_prefixes_name_snapshots_and_an_ambiguous_prefix_is_refused()
    {
        using var temp = new TempDir();
        var (repo, _, id) = await OneSnapshotAsync(temp, "f", "x");

        // Two more records of the same tree whose ids share their first four hex digits.
        var (first, second) = await AddRecordsSharingAPrefixAsync(repo, id);

        var tag = await CairnCli.RunAsync(repo, "tag", "release-1.0", id[..8], "--json");
        var badTag = await CairnCli.RunAsync(repo, "tag", "bad/name", id, "--json");
        var tags = await CairnCli.RunAsync(repo, "tag", "--json");
        var byTag = await CairnCli.RunAsync(repo, "show", "release-1.0", "--json");
        var byLongPrefix = await CairnCli.RunAsync(repo, "show", first[..12], "--json");
        var ambiguous = await CairnCli.RunAsync(repo, "show", first[..4], "--json");
        var tooShort = await CairnCli.RunAsync(repo, "show", id[..3], "--json");

        Assert.True(tag.ExitCode == 0, tag.ToString());
        Assert.Equal(id, tag.Json.GetProperty("snapshot").GetString());
        AssertError(badTag, 2, "usage", "invalid tag name 'bad/name': use 1-128 letters, digits, '.', '_' and '-', not starting with '.'");
        Assert.Equal("release-1.0=" + id, string.Join(",", tags.Json.EnumerateArray().Select(t => $"{t.GetProperty("name").GetString()}={t.GetProperty("snapshot").GetString()}")));
        Assert.Equal(id, byTag.Json.GetProperty("snapshot").GetProperty("id").GetString());
        Assert.Equal(first, byLongPrefix.Json.GetProperty("snapshot").GetProperty("id").GetString());
        // The candidates are listed, in id order, in the short form each can be given back in.
        var candidates = new[] { id, first, second }.Where(c => c.StartsWith(first[..4], StringComparison.Ordinal)).Order(StringComparer.Ordinal).Select(c => c[..12]).ToList();
        AssertError(ambiguous, 2, "usage", $"'{first[..4]}' is ambiguous: it matches {candidates.Count} snapshots ({string.Join(", ", candidates)})");
        Assert.Equal(second[..4], first[..4]);
        AssertError(tooShort, 2, "usage", $"no snapshot or tag '{id[..3]}' in {repo}");
    }

    [Fact]
    public async Task Latest_names_the_newest_snapshot_and_a_stored_latest_tag_naming_another_is_refused()
    {
        using var temp = new TempDir();
        var empty = temp.Sub("empty");
        await CairnCli.RunAsync(empty, "init");
        var none = await CairnCli.RunAsync(empty, "show", "latest", "--json");
        var (repo, source, first) = await OneSnapshotAsync(temp, "f", "x");
        File.WriteAllText(Path.Combine(source, "f"), "y");
        var second = (await CairnCli.RunAsync(repo, "snapshot", source, "--json")).Json.GetProperty("id").GetString()!;

        var newest = await CairnCli.RunAsync(repo, "show", "latest", "--json");

        // A tag 'latest' can no longer be set, but an earlier version may have stored one.
        await WriteStoredTagAsync(repo, "latest", first);
        var disagreeing = await CairnCli.RunAsync(repo, "show", "latest", "--json");
        await WriteStoredTagAsync(repo, "latest", second);
        var agreeing = await CairnCli.RunAsync(repo, "show", "latest", "--json");

        AssertError(none, 2, "usage", $"no snapshots in {empty} yet");
        Assert.NotEqual(first, second);
        Assert.Equal(second, newest.Json.GetProperty("snapshot").GetProperty("id").GetString());
        AssertError(disagreeing, 2, "usage", $"'latest' is ambiguous: the tag 'latest' names {first[..12]}, and the newest snapshot is {second[..12]}");
        Assert.Equal(second, agreeing.Json.GetProperty("snapshot").GetProperty("id").GetString());
    }

    [Fact]
    public async Task A_new_tag_that_reads_as_an_id_prefix_or_a_reserved_word_is_refused()
    {
        using var temp = new TempDir();
        var (repo, source, id) = await OneSnapshotAsync(temp, "f", "x");
        const string hexMessage = "a name of 4 or more hex digits reads as a snapshot id";

        var forkPrefix = await CairnCli.RunAsync(repo, "fork", id, "--tag", id[..8], "--json");
        var forkFourDigits = await CairnCli.RunAsync(repo, "fork", id, "--tag", "cafe", "--json");
        var tagUppercase = await CairnCli.RunAsync(repo, "tag", id[..8].ToUpperInvariant(), id, "--json");
        var tagFullId = await CairnCli.RunAsync(repo, "tag", id, id, "--json");
        var snapshotLatest = await CairnCli.RunAsync(repo, "snapshot", source, "--tag", "ok", "--tag", "latest", "--json");
        var tagLatest = await CairnCli.RunAsync(repo, "tag", "Latest", id, "--json");
        var forkAuto = await CairnCli.RunAsync(repo, "fork", id, "--tag", "auto", "--json");
        var tagNone = await CairnCli.RunAsync(repo, "tag", "none", id, "--json");
        var tagLock = await CairnCli.RunAsync(repo, "tag", "rel.lock", id, "--json");

        AssertError(forkPrefix, 2, "usage", $"invalid tag name '{id[..8]}': {hexMessage}");
        AssertError(forkFourDigits, 2, "usage", $"invalid tag name 'cafe': {hexMessage}");
        AssertError(tagUppercase, 2, "usage", $"invalid tag name '{id[..8].ToUpperInvariant()}': {hexMessage}");
        AssertError(tagFullId, 2, "usage", $"invalid tag name '{id}': {hexMessage}");
        AssertError(snapshotLatest, 2, "usage", "invalid tag name 'latest': 'latest' is reserved: it names the newest snapshot");
        AssertError(tagLatest, 2, "usage", "invalid tag name 'Latest': 'latest' is reserved: it names the newest snapshot");
        AssertError(forkAuto, 2, "usage", "invalid tag name 'auto': 'auto' is reserved: it is a --parent choice");
        AssertError(tagNone, 2, "usage", "invalid tag name 'none': 'none' is reserved: it is a --parent choice");
        AssertError(tagLock, 2, "usage", "invalid tag name 'rel.lock': a name ending in '.lock' is a tag's lock file in a local repository");

        // Nothing was written: no tag, and the refused snapshot run stored no snapshot.
        Assert.Equal(0, (await CairnCli.RunAsync(repo, "tag", "--json")).Json.GetArrayLength());
        Assert.Equal(1, (await CairnCli.RunAsync(repo, "snapshots", "--json")).Json.GetArrayLength());

        // Names that cannot be read as anything else stay allowed: too short to be a prefix, or not all hex.
        foreach (var name in new[] { "abc", "42", "v1.0", "cafe-1", "latest-good", "release_2024" })
        {
            var allowed = await CairnCli.RunAsync(repo, "tag", name, id, "--json");
            Assert.True(allowed.ExitCode == 0, $"{name}: {allowed}");
        }
    }

    [Fact]
    public async Task A_stored_tag_that_reads_as_an_id_prefix_resolves_only_when_both_name_the_same_snapshot()
    {
        using var temp = new TempDir();
        var (repo, source, first) = await OneSnapshotAsync(temp, "f", "x");
        File.WriteAllText(Path.Combine(source, "f"), "y");
        var second = (await CairnCli.RunAsync(repo, "snapshot", source, "--json")).Json.GetProperty("id").GetString()!;

        // Tags an earlier version accepted: one shadowing the second snapshot's prefix, one the prefix of its own
        // snapshot, and one all-hex name that is no snapshot's prefix.
        var unmatched = new[] { "0000", "1111", "2222" }.First(p => !first.StartsWith(p, StringComparison.Ordinal) && !second.StartsWith(p, StringComparison.Ordinal));
        await WriteStoredTagAsync(repo, second[..8], first);
        await WriteStoredTagAsync(repo, first[..6], first);
        await WriteStoredTagAsync(repo, unmatched, second);

        var shadowing = await CairnCli.RunAsync(repo, "show", second[..8], "--json");
        var shadowingText = await CairnCli.RunAsync(repo, "restore", second[..8], temp.Sub("out"));
        var agreeing = await CairnCli.RunAsync(repo, "show", first[..6], "--json");
        var tagOnly = await CairnCli.RunAsync(repo, "show", unmatched, "--json");
        var longerPrefix = await CairnCli.RunAsync(repo, "show", second[..12], "--json");
        var moved = await CairnCli.RunAsync(repo, "tag", second[..8], second, "--json");
        var tags = await CairnCli.RunAsync(repo, "tag", "--json");

        var message = $"'{second[..8]}' is ambiguous: the tag '{second[..8]}' names {first[..12]}, and it matches snapshot {second[..12]}";
        AssertError(shadowing, 2, "usage", message);
        Assert.Equal(2, shadowingText.ExitCode);
        Assert.Equal($"cairn: {message}\n", shadowingText.Stderr);
        Assert.False(Directory.Exists(temp.Sub("out")));
        Assert.Equal(first, agreeing.Json.GetProperty("snapshot").GetProperty("id").GetString());
        Assert.Equal(second, tagOnly.Json.GetProperty("snapshot").GetProperty("id").GetString());
        Assert.Equal(second, longerPrefix.Json.GetProperty("snapshot").GetProperty("id").GetString());

        // Stored tags are still listed, but cannot be moved under their old name.
        AssertError(moved, 2, "usage", $"invalid tag name '{second[..8]}': a name of 4 or more hex digits reads as a snapshot id");
        Assert.Equal(
            new[] { $"{first[..6]}={first}", $"{second[..8]}={first}", $"{unmatched}={second}" }.Order(StringComparer.Ordinal),
            tags.Json.EnumerateArray().Select(t => $"{t.GetProperty("name").GetString()}={t.GetProperty("snapshot").GetString()}"));

        // But they can be deleted, which ends the ambiguity: the prefix then names the second snapshot.
        var deleted = await CairnCli.RunAsync(repo, "tag", "--delete", second[..8], "--json");
        Assert.Equal(first, deleted.Json.GetProperty("snapshot").GetString());
        Assert.Equal(second, (await CairnCli.RunAsync(repo, "show", second[..8], "--json")).Json.GetProperty("snapshot").GetProperty("id").GetString());
        AssertError(await CairnCli.RunAsync(repo, "tag", "--delete", second[..8], "--json"), 2, "usage", $"no tag '{second[..8]}' in {repo}");
    }

    /// <summary>A new repository (temp/repo) holding one snapshot of temp/src, a directory with one file.</summary>
    private static async Task<(string Repo, string Source, string Id)> OneSnapshotAsync(TempDir temp, string file, string content)
    {
        var repo = temp.Sub("repo");
        var source = temp.CreateSub("src");
        File.WriteAllText(Path.Combine(source, file), content);
        await CairnCli.RunAsync(repo, "init");
        var snapshot = await CairnCli.RunAsync(repo, "snapshot", source, "--json");
        Assert.True(snapshot.ExitCode == 0, snapshot.ToString());
        return (repo, source, snapshot.Json.GetProperty("id").GetString()!);
    }

    /// <summary>A new repository with one snapshot, tagged <paramref name="tag"/>, of the tree <paramref name="setUp"/> makes.</summary>
    private static async Task<(string Repo, string Source)> SnapshotOfAsync(TempDir temp, string setUp, string tag)
    {
        var repo = temp.Sub("repo");
        var source = temp.CreateSub("src");
        Shell.Run(setUp, source);
        await CairnCli.RunAsync(repo, "init");
        var snapshot = await CairnCli.RunAsync(repo, "snapshot", source, "--tag", tag);
        Assert.True(snapshot.ExitCode == 0, snapshot.ToString());
        return (repo, source);
    }

    /// <summary>Snapshots a tree <paramref name="setUp"/> makes, changes it with <paramref name="change"/>, snapshots it again, and diffs the two: as text and as JSON.</summary>
    private static async Task<(CliResult Text, CliResult Json)> DiffOfChangeAsync(TempDir temp, string setUp, string change)
    {
        var (repo, source) = await SnapshotOfAsync(temp, setUp, "a");
        Shell.Run(change, source);
        Assert.Equal(0, (await CairnCli.RunAsync(repo, "snapshot", source, "--tag", "b")).ExitCode);
        return (await CairnCli.RunAsync(repo, "diff", "a", "b"), await CairnCli.RunAsync(repo, "diff", "a", "b", "--json"));
    }

    /// <summary>Writes snapshot records (of the snapshot <paramref name="id"/>'s tree, other times) until two ids share four hex digits.</summary>
    private static async Task<(string First, string Second)> AddRecordsSharingAPrefixAsync(string repo, string id)
    {
        await using var repository = await Cairn.Repository.Repository.OpenAsync(new LocalObjectStore(repo));
        var original = await repository.ReadSnapshotAsync(ContentId.Parse(id));
        var byPrefix = new Dictionary<string, (SnapshotRecord Record, byte[] Bytes)>();
        for (var i = 1; ; i++)
        {
            var record = original with { Time = original.Time.AddSeconds(i), Tags = [] };
            var bytes = record.Serialize();
            var prefix = record.Id.ToString()[..4];
            if (byPrefix.TryGetValue(prefix, out var earlier))
            {
                await repository.Store.PutAsync(ObjectKeys.Snapshot(earlier.Record.Id), earlier.Bytes);
                await repository.Store.PutAsync(ObjectKeys.Snapshot(record.Id), bytes);
                return (earlier.Record.Id.ToString(), record.Id.ToString());
            }

            byPrefix.Add(prefix, (record, bytes));
        }
    }

    /// <summary>Writes the tag object <c>tags/NAME</c> as an earlier version would have, whatever the name.</summary>
    private static async Task WriteStoredTagAsync(string repo, string name, string snapshot)
    {
        await using var store = new LocalObjectStore(repo);
        await store.PutAsync(ObjectKeys.Tag(name), Encoding.UTF8.GetBytes($"{{\"snapshot\":\"{snapshot}\",\"time\":\"2025-01-01T00:00:00+00:00\"}}"));
    }

    private static void AssertError(CliResult result, int exitCode, string code, string message)
    {
        Assert.True(result.ExitCode == exitCode, result.ToString());
        var error = result.Json.GetProperty("error");
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.Equal(message, error.GetProperty("message").GetString());
        Assert.Single(result.Text.Trim().Split('\n'));
    }
}
