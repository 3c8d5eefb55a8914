using Cairn.Repository;
using Cairn.Restore;
using Cairn.Snapshot;
using Cairn.Storage;

namespace Cairn.Tests.Support;

/// <summary>
/// A temporary directory holding a real local repository (<c>repo/</c>) and whatever trees a test makes next to it;
/// all of it is removed on dispose.
/// </summary>
internal sealed class Workspace : IAsyncDisposable
{
    private Workspace(TempDir dir, Repository.Repository repository)
    {
        Dir = dir;
        Repository = repository;
    }

    public TempDir Dir { get; }

    public string RepoPath => Dir.Sub("repo");

    public Repository.Repository Repository { get; }

    /// <summary>The default chunker with frames and packs small enough that a few MiB make several packs.</summary>
    public static RepositoryConfig SmallPacks => new() { FrameSize = 256 << 10, PackSize = 1 << 20 };

    public static async Task<Workspace> CreateAsync(RepositoryConfig? config = null)
    {
        var dir = new TempDir();
        try
        {
            var repository = await Cairn.Repository.Repository.InitAsync(new LocalObjectStore(dir.Sub("repo")), config ?? SmallPacks);
            return new Workspace(dir, repository);
        }
        catch
        {
            dir.Dispose();
            throw;
        }
    }

    /// <summary>Generates a tree in the new directory <c>src</c> and returns its path.</summary>
    public string Generate(int seed, TreeShape shape)
    {
        var path = Dir.CreateSub("src");
        TreeGenerator.Generate(path, seed, shape);
        return path;
    }

    /// <summary>The repository as another process would see it: a new store and repository object over the same directory.</summary>
    public async Task<Repository.Repository> ReopenAsync() => await Cairn.Repository.Repository.OpenAsync(new LocalObjectStore(RepoPath));

    public Task<SnapshotResult> SnapshotAsync(string path, SnapshotOptions? options = null) =>
        new Archiver(Repository, options).SnapshotAsync(path);

    public async Task<RestoreResult> RestoreAsync(SnapshotRecord snapshot, string target, RestoreOptions? options = null)
    {
        await using var repository = await ReopenAsync();
        return await new Restorer(repository, options).RestoreAsync(snapshot, target);
    }

    /// <summary>The names directly in the workspace directory, sorted: to check that nothing (a staging directory) was left behind.</summary>
    public IReadOnlyList<string> TopLevelNames() => [.. Directory.EnumerateFileSystemEntries(Dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    public async ValueTask DisposeAsync()
    {
        await Repository.DisposeAsync();
        Dir.Dispose();
    }
}
