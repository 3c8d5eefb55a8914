using System.Runtime.Versioning;
using Cairn.Mount;
using Cairn.Storage.S3;
using Cairn.Storage.S3.Tests;
using Cairn.Tests.Fuse;

namespace Cairn.Tests.Mount;

/// <summary>Mounts of a repository on the real S3 server (scripts/s3-server.sh), each test under its own prefix, deleted at the end.</summary>
[Collection(FuseMountsDefinition.Name)]
[SupportedOSPlatform("linux")]
public sealed class S3MountTests : IClassFixture<S3Server>
{
    private readonly S3Server _server;

    public S3MountTests(S3Server server)
    {
        _server = server;
    }

    [FuseFact]
    public async Task A_snapshot_in_S3_mounts_lazily_reads_back_identical_and_hydrates()
    {
        var prefix = $"test-mount-{Guid.NewGuid():N}/";
        try
        {
            await using var lab = await MountLab.CreateAsync(() => new S3ObjectStore(_server.Options(prefix)));
            var snapshot = await lab.SnapshotAsync();
            var manifest = await lab.Repository.ReadManifestAsync(snapshot);

            // Lazily: a few files, fetched frame by frame.
            var lazy = await lab.MountAsync(snapshot);
            var getsAtMount = lab.Gets;
            Assert.Equal("deep\n", await File.ReadAllTextAsync(Path.Combine(lazy.MountPoint, "dir/sub/deeper/deep.txt")));
            Assert.Equal(SampleTree.Data(SampleTree.BigSize, seed: 1), await File.ReadAllBytesAsync(Path.Combine(lazy.MountPoint, "big.bin")));
            var lazyGets = lab.Gets - getsAtMount;
            Assert.InRange(lazyGets, 1, SnapshotMountTests.FramesOf(manifest, "big.bin").Count + 1);
            await lazy.DisposeAsync();

            // Hydrated (with a fresh cache): then the whole tree reads back with no further request.
            var hydrated = await lab.MountAsync(snapshot, new MountOptions { Hydrate = true, Trace = false, CacheRoot = Path.Combine(lab.Root, "cache2") });
            await hydrated.Background.WaitAsync(TimeSpan.FromSeconds(120));
            var gets = lab.Gets;
            TreeComparer.AssertSame(lab.Source, hydrated.MountPoint);
            Assert.Equal(gets, lab.Gets);
            Assert.Equal(0, hydrated.Statistics.ReadErrors);
        }
        finally
        {
            await using var store = new S3ObjectStore(_server.Options(prefix));
            await foreach (var info in store.ListAsync(""))
            {
                await store.DeleteAsync(info.Key);
            }
        }
    }
}
