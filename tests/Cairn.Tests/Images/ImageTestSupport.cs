using System.Security.Cryptography;
using Cairn.Native.Linux;
using Cairn.Repository;
using Cairn.Restore;
using Cairn.Snapshot;
using Cairn.Storage;

namespace Cairn.Tests.Images;

/// <summary>A temporary directory holding a local repository and test images; removed on dispose, also after a failure.</summary>
internal sealed class ImageWorkspace : IAsyncDisposable
{
    private ImageWorkspace(string root, Repository.Repository repository)
    {
        Root = root;
        Repository = repository;
    }

    public string Root { get; }

    public string RepositoryPath => Path.Combine(Root, "repo");

    public Repository.Repository Repository { get; }

    public static async Task<ImageWorkspace> CreateAsync(int imageBlockSize = RepositoryConfig.DefaultImageBlockSize, int frameSize = 2 << 20)
    {
        var root = Directory.CreateTempSubdirectory("cairn-images-").FullName;
        try
        {
            var repository = await Cairn.Repository.Repository.InitAsync(new LocalObjectStore(Path.Combine(root, "repo")), new RepositoryConfig { ImageBlockSize = imageBlockSize, FrameSize = frameSize });
            return new ImageWorkspace(root, repository);
        }
        catch
        {
            Directory.Delete(root, recursive: true);
            throw;
        }
    }

    public string PathOf(string relative) => Path.Combine(Root, relative);

    public async Task<SnapshotResult> SnapshotAsync(IReadOnlyList<string> images, string? parent = SnapshotOptions.AutoParent, params string[] tags) =>
        await SnapshotAsync(images, new SnapshotOptions { Parent = parent, Tags = tags });

    public async Task<SnapshotResult> SnapshotAsync(IReadOnlyList<string> images, SnapshotOptions options) =>
        await new Archiver(Repository, options).SnapshotImagesAsync(images);

    public async Task<RestoreResult> RestoreAsync(SnapshotRecord snapshot, string target, RestoreOptions? options = null) =>
        await new Restorer(Repository, options).RestoreAsync(snapshot, target);

    /// <summary>Restores into <paramref name="target"/> (default: a directory "restored" here) and checks the image <paramref name="name"/> there.</summary>
    public async Task<RestoreResult> RestoreAndCheckAsync(SnapshotRecord snapshot, ImageState expected, string name, string? target = null, RestoreOptions? options = null)
    {
        target ??= PathOf("restored");
        var result = await RestoreAsync(snapshot, target, options);
        expected.AssertRestoredAs(Path.Combine(target, name));
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        await Repository.DisposeAsync();
        Directory.Delete(Root, recursive: true);
    }
}

/// <summary>
/// A sparse image of 4 KiB blocks, changed the way a VM changes its disk or memory: blocks overwritten in place with
/// new data or with zeros, the rest left as holes. Knows which blocks hold data, to check restores against.
/// </summary>
internal sealed class TestImage
{
    public const int Block = 4096;

    private readonly Random _random;

    public TestImage(string path, long blocks, int seed)
    {
        Path = path;
        Blocks = blocks;
        _random = new Random(seed);
        using var file = File.Create(path);
        file.SetLength(blocks * Block);
    }

    public string Path { get; }

    public long Blocks { get; }

    /// <summary>Overwrites <paramref name="count"/> random blocks: with random data, or (one in <paramref name="zeroOneIn"/>) with zeros.</summary>
    public void Change(int count, int zeroOneIn = 5)
    {
        using var file = new FileStream(Path, FileMode.Open, FileAccess.Write);
        var data = new byte[Block];
        for (var i = 0; i < count; i++)
        {
            var block = _random.NextInt64(Blocks);
            var zero = _random.Next(zeroOneIn) == 0;
            if (zero)
            {
                Array.Clear(data);
            }
            else
            {
                _random.NextBytes(data);
            }

            file.Position = block * Block;
            file.Write(data);
        }
    }

    /// <summary>What the image is now: its content hash and the blocks holding non-zero data.</summary>
    public ImageState State() => ImageState.Of(Path);

    /// <summary>Bytes of blocks that are allocated on disk (not holes) but hold only zeros.</summary>
    public long AllocatedZeroBytes()
    {
        var content = NonZeroBlocks(Path);
        return DataBlocks(Path).Count(b => !content.Contains(b)) * (long)Block;
    }

    /// <summary>The blocks the file system holds data for (SEEK_DATA/SEEK_HOLE), zero or not.</summary>
    public static HashSet<long> DataBlocks(string path)
    {
        using var dir = LinuxFile.OpenDirectory(System.IO.Path.GetDirectoryName(path)!);
        using var fd = LinuxFile.OpenAt(dir, System.Text.Encoding.UTF8.GetBytes(System.IO.Path.GetFileName(path)), OpenFlags.ReadOnly);
        var size = LinuxFile.Stat(fd).Size;
        var blocks = new HashSet<long>();
        for (long position = 0; position < size;)
        {
            var data = LinuxFile.SeekData(fd, position);
            if (data < 0)
            {
                break;
            }

            var hole = LinuxFile.SeekHole(fd, data);
            for (var b = data / Block; b * Block < hole; b++)
            {
                blocks.Add(b);
            }

            position = hole;
        }

        return blocks;
    }

    public static HashSet<long> NonZeroBlocks(string path)
    {
        var blocks = new HashSet<long>();
        using var file = File.OpenRead(path);
        var data = new byte[Block];
        for (long b = 0; ; b++)
        {
            var n = file.ReadAtLeast(data, Block, throwOnEndOfStream: false);
            if (n == 0)
            {
                return blocks;
            }

            if (data.AsSpan(0, n).ContainsAnyExcept((byte)0))
            {
                blocks.Add(b);
            }
        }
    }
}

/// <summary>An image whose every block holds random data (from a seed), changed in place where a test says.</summary>
internal sealed class DenseImage
{
    private readonly Random _random;

    public DenseImage(string path, int blocks, int seed)
    {
        Path = path;
        Data = new byte[blocks * TestImage.Block];
        _random = new Random(seed);
        Randomize(0, blocks);
    }

    public string Path { get; }

    /// <summary>The image's bytes: a test may change them and <see cref="Write"/> them.</summary>
    public byte[] Data { get; }

    /// <summary>Gives blocks <paramref name="first"/> to <paramref name="first"/> + <paramref name="count"/> - 1 new random data, and writes the file.</summary>
    public void Randomize(int first, int count)
    {
        _random.NextBytes(Data.AsSpan(first * TestImage.Block, count * TestImage.Block));
        Write();
    }

    public void Write() => File.WriteAllBytes(Path, Data);
}

/// <summary>An image's content (SHA-256 of all its bytes), size and non-zero blocks.</summary>
internal sealed record ImageState(string Hash, long Size, HashSet<long> NonZeroBlocks)
{
    public static ImageState Of(string path)
    {
        using var file = File.OpenRead(path);
        return new ImageState(Convert.ToHexString(SHA256.HashData(file)), new FileInfo(path).Length, TestImage.NonZeroBlocks(path));
    }

    /// <summary>Asserts <paramref name="path"/> holds this content, with holes exactly where the blocks are zero.</summary>
    public void AssertRestoredAs(string path)
    {
        var restored = Of(path);
        Assert.Equal(Size, restored.Size);
        Assert.Equal(Hash, restored.Hash);
        var data = TestImage.DataBlocks(path);
        Assert.True(data.SetEquals(NonZeroBlocks), $"{path}: {data.Count} blocks hold data on disk, {NonZeroBlocks.Count} blocks are non-zero: zero blocks must be holes");
    }
}
