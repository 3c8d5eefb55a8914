namespace Cairn.Tests.Support;

/// <summary>A fact that needs root (it mounts a file system, or sets trusted.* xattrs): skipped, not failed, without it.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RootFactAttribute : FactAttribute
{
    /// <param name="why">What the test does that needs root, for the skip message.</param>
    public RootFactAttribute(string why = "it mounts a tmpfs")
    {
        if (!Environment.IsPrivilegedProcess)
        {
            Skip = $"This test needs root: {why}.";
        }
    }
}

/// <summary>
/// A fact that runs the CLI as the unprivileged user nobody (uid and gid 65534), through setpriv, where permissions
/// apply as they do to users: needs root (to switch) and setpriv; skipped, not failed, without them.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class AsNobodyFactAttribute : FactAttribute
{
    /// <summary>The command that runs what follows it as nobody, without supplementary groups.</summary>
    public static IReadOnlyList<string> Wrapper { get; } = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

    public AsNobodyFactAttribute()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            Skip = "This test switches to the user nobody: it needs root.";
        }
        else if (!File.Exists(Wrapper[0]))
        {
            Skip = $"This test needs {Wrapper[0]}.";
        }
    }
}
