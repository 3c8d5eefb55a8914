using System.Text;
using System.Text.Json;

namespace Cairn.Storage.S3.Tests.EndToEnd;

/// <summary>The <c>cairn</c> command line against a repository in the real S3 server, as a user runs it.</summary>
public sealed class CliTests : S3TestBase
{
    public CliTests(S3Server server)
        : base(server)
    {
    }

    private string Repo => $"s3://{Server.Bucket}/{Prefix}";

    [Fact]
    public async Task Every_command_works_on_an_s3_repository()
    {
        using var tree = TestTree.Create(1);
        var firstTarget = TestTree.NewTargetPath();
        var secondTarget = TestTree.NewTargetPath();
        try
        {
            await CairnAsync("init");
            var first = (await CairnAsync("snapshot", tree.Path, "--tag", "laptop", "--json")).Json;

            var restore = (await CairnAsync("restore", "latest", firstTarget, "--json")).Json;
            Assert.Empty(Cairn.Tests.Support.TreeComparer.Compare(tree.Path, firstTarget));
            // Config, tag, record and manifest, then ranged reads of at most 16 MiB: at most stored MB / 8 + 5 GETs.
            var stored = first.GetProperty("stats").GetProperty("storedBytes").GetInt64();
            var gets = restore.GetProperty("requests").GetProperty("gets").GetInt64();
            Assert.True(gets <= (stored / 8_000_000) + 5, $"{gets} GETs to restore {stored} stored bytes");

            // An incremental snapshot reads and stores only what changed.
            var added = TestTree.Text(new Random(7), 3000);
            tree.Write("src/added.txt", added);
            tree.Write("src/file03.txt", TestTree.Text(new Random(8), 4000));
            var second = (await CairnAsync("snapshot", tree.Path, "--tag", "laptop", "--parent", "auto", "--json")).Json;
            var stats = second.GetProperty("stats");
            Assert.Equal(first.GetProperty("id").GetString(), second.GetProperty("parent").GetString());
            Assert.True(stats.GetProperty("bytesRead").GetInt64() < 20_000, stats.ToString());
            Assert.True(stats.GetProperty("storedBytes").GetInt64() < stored / 4, stats.ToString());

            await CairnAsync("restore", second.GetProperty("id").GetString()!, secondTarget);
            Assert.Empty(Cairn.Tests.Support.TreeComparer.Compare(tree.Path, secondTarget));

            Assert.Equal(added, Encoding.ASCII.GetBytes((await CairnAsync("cat", "latest", "src/added.txt")).Stdout));
            var list = (await CairnAsync("snapshots", "--json")).Json;
            Assert.Equal(
                [first.GetProperty("id").GetString()!, second.GetProperty("id").GetString()!],
                list.EnumerateArray().Select(s => s.GetProperty("id").GetString()!).ToArray());
            var diff = (await CairnAsync("diff", first.GetProperty("id").GetString()!, "latest", "--json")).Json;
            Assert.Equal(
                ["added src/added.txt", "modified src", "modified src/file03.txt"],
                diff.EnumerateArray().Select(c => $"{c.GetProperty("change").GetString()} {c.GetProperty("path").GetString()}").Order(StringComparer.Ordinal).ToArray());
            var show = (await CairnAsync("show", "latest", "--json")).Json;
            Assert.Contains(show.GetProperty("entries").EnumerateArray(), e => e.GetProperty("path").GetString() == "links/hard-b" && e.GetProperty("kind").GetString() == "hardlink");

            await CairnAsync("tag", "first", first.GetProperty("id").GetString()![..12]);

            // A local repository copied to S3 brings its tags' lock files (tags/NAME.lock, empty): they are not tags,
            // and do not break the listing (it failed: "tag 'first.lock' is corrupt").
            await OpenStore().PutAsync("tags/first.lock", Array.Empty<byte>());

            var tags = (await CairnAsync("tag", "--json")).Json;
            Assert.Equal(
                [$"first {first.GetProperty("id").GetString()}", $"laptop {second.GetProperty("id").GetString()}"],
                tags.EnumerateArray().Select(t => $"{t.GetProperty("name").GetString()} {t.GetProperty("snapshot").GetString()}").ToArray());
        }
        finally
        {
            TestTree.Remove(firstTarget);
            TestTree.Remove(secondTarget);
        }
    }

    [Fact]
    public async Task Bad_credentials_are_one_line_with_exit_code_1_or_a_json_error()
    {
        await CairnAsync("init");
        var environment = new Dictionary<string, string>(Server.Environment) { ["AWS_ACCESS_KEY_ID"] = "no-such-key" };

        var plain = await CairnCli.RunAsync(environment, ["-r", Repo, "snapshots"]);
        Assert.Equal(1, plain.ExitCode);
        Assert.Equal(string.Empty, plain.Stdout);
        Assert.Equal($"cairn: cannot read 'config' in {Repo}: HTTP 403 InvalidAccessKeyId (the server does not know this access key: check AWS_ACCESS_KEY_ID or AWS_PROFILE)", plain.Stderr.TrimEnd());

        var json = await CairnCli.RunAsync(environment, ["-r", Repo, "snapshots", "--json"]);
        Assert.Equal(1, json.ExitCode);
        var error = json.Json.GetProperty("error");
        Assert.Equal("error", error.GetProperty("code").GetString());
        Assert.Equal(plain.Stderr.TrimEnd()["cairn: ".Length..], error.GetProperty("message").GetString());

        environment = new Dictionary<string, string>(Server.Environment) { ["AWS_SECRET_ACCESS_KEY"] = "wrong" };
        var wrongSecret = await CairnCli.RunAsync(environment, ["-r", Repo, "tag", "x", "latest"]);
        Assert.Equal(1, wrongSecret.ExitCode);
        AssertOneLine(wrongSecret.Stderr, "HTTP 403 SignatureDoesNotMatch", "AWS_SECRET_ACCESS_KEY");
    }

    [Fact]
    public async Task No_credentials_at_all_is_one_line_that_says_what_to_set()
    {
        var home = Directory.CreateTempSubdirectory("cairn-e2e-home-").FullName;
        try
        {
            // No keys, no profile files, no instance metadata: nothing the SDK could find.
            var environment = new Dictionary<string, string>(Server.Environment) { ["HOME"] = home, ["AWS_EC2_METADATA_DISABLED"] = "true" };
            environment.Remove("AWS_ACCESS_KEY_ID");
            environment.Remove("AWS_SECRET_ACCESS_KEY");
            var result = await CairnCli.RunAsync(environment, ["-r", Repo, "snapshots"]);
            Assert.Equal(1, result.ExitCode);
            AssertOneLine(result.Stderr, $"cannot read 'config' in {Repo}: no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE");
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    [Fact]
    public async Task A_missing_bucket_is_named_by_every_command()
    {
        var missing = $"s3://cairn-missing-{Guid.NewGuid():N}"[..40] + "/repo";
        var snapshots = await CairnCli.RunAsync(Server.Environment, ["-r", missing, "snapshots"]);
        Assert.Equal(1, snapshots.ExitCode);
        AssertOneLine(snapshots.Stderr, "cannot read 'config'", "HTTP 404 NoSuchBucket");

        // init's first request is the conditional-write check: the error still names the object init writes.
        var init = await CairnCli.RunAsync(Server.Environment, ["-r", missing, "init", "--json"]);
        Assert.Equal(1, init.ExitCode);
        var message = init.Json.GetProperty("error").GetProperty("message").GetString()!;
        Assert.StartsWith($"cannot write 'config' in {missing}/: ", message, StringComparison.Ordinal);
        Assert.Contains("HTTP 404 NoSuchBucket", message, StringComparison.Ordinal);
        Assert.DoesNotContain(".cairn-probe", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_endpoint_and_a_malformed_one_are_reported()
    {
        var port = UnusedPort();
        var refused = await CairnCli.RunAsync(Server.Environment, ["-r", Repo, "--s3-endpoint", $"http://127.0.0.1:{port}", "snapshots"]);
        Assert.Equal(1, refused.ExitCode);
        AssertOneLine(refused.Stderr, $"cannot connect to http://127.0.0.1:{port}", "gave up after 6 attempts");

        var malformed = await CairnCli.RunAsync(Server.Environment, ["-r", Repo, "--s3-endpoint", "127.0.0.1:9000", "snapshots", "--json"]);
        Assert.Equal(2, malformed.ExitCode);
        Assert.Equal("usage", malformed.Json.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("--s3-endpoint", malformed.Json.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_endpoint_option_wins_over_the_environment_and_path_style_can_be_turned_off()
    {
        await CairnAsync("init");
        var environment = new Dictionary<string, string>(Server.Environment) { ["AWS_ENDPOINT_URL_S3"] = "http://127.0.0.1:9" };
        var listed = await CairnCli.RunAsync(environment, ["-r", Repo, "--s3-endpoint", Server.Endpoint.ToString(), "snapshots", "--json"]);
        Assert.Equal(0, listed.ExitCode);
        Assert.Equal(JsonValueKind.Array, listed.Json.ValueKind);

        // By name rather than IP address (the SDK addresses an IP path-style whatever it is told): path-style works,
        // virtual-host style sends the bucket name in the host name, cairn-test.localhost, which is not the server.
        var byName = $"http://localhost:{Server.Endpoint.Port}";
        var pathStyle = await CairnCli.RunAsync(Server.Environment, ["-r", Repo, "--s3-endpoint", byName, "--s3-path-style", "snapshots", "--json"]);
        Assert.True(pathStyle.ExitCode == 0, pathStyle.ToString());
        var virtualHost = await CairnCli.RunAsync(Server.Environment, ["-r", Repo, "--s3-endpoint", byName, "--s3-path-style", "false", "snapshots"]);
        Assert.Equal(1, virtualHost.ExitCode);
        AssertOneLine(virtualHost.Stderr, $"cannot read 'config' in {Repo}: ");
    }

    [Fact]
    public async Task On_a_server_that_ignores_conditional_writes_init_refuses_unless_told_and_never_replaces_a_repository()
    {
        // The proxy plays a server that accepts conditional PUTs and ignores the condition.
        var proxy = StartProxy();
        proxy.Fail(FaultKind.FakeSuccess, r => r.Method == "PUT" && (r.Headers.ContainsKey("If-None-Match") || r.Headers.ContainsKey("If-Match")));
        string[] viaProxy = ["-r", Repo, "--s3-endpoint", proxy.Endpoint.ToString()];

        var refused = await CairnCli.RunAsync(Server.Environment, [.. viaProxy, "init"]);
        Assert.Equal(1, refused.ExitCode);
        AssertOneLine(refused.Stderr, "cannot write 'config'", "ignores conditional writes", "--s3-no-verify-conditional-writes");

        // Told that one writer is all there is, it sends the conditions and trusts them, but still looks before it
        // creates: an init never replaces the config of an existing repository.
        await CairnAsync("init");
        var again = await CairnCli.RunAsync(Server.Environment, [.. viaProxy, "--s3-no-verify-conditional-writes", "init"]);
        Assert.Equal(1, again.ExitCode);
        AssertOneLine(again.Stderr, $"a repository already exists at {Repo}");

        // Snapshots need no conditional write.
        using var tree = TestTree.Create(9);
        var snapshot = await CairnCli.RunAsync(Server.Environment, [.. viaProxy, "snapshot", tree.Path]);
        Assert.True(snapshot.ExitCode == 0, snapshot.ToString());
    }

    private async Task<CliResult> CairnAsync(params string[] args)
    {
        var result = await CairnCli.RunAsync(Server.Environment, ["-r", Repo, .. args]);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result;
    }

    private static void AssertOneLine(string stderr, params string[] parts)
    {
        var line = stderr.TrimEnd();
        Assert.DoesNotContain('\n', line);
        Assert.StartsWith("cairn: ", line, StringComparison.Ordinal);
        foreach (var part in parts)
        {
            Assert.Contains(part, line, StringComparison.Ordinal);
        }
    }
}
