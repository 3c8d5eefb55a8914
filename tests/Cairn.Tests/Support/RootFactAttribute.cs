namespace Cairn.Tests.Support;

/// <summary>A fact that needs root (it mounts a file system): skipped, not failed, without it.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            Skip = "This test mounts a tmpfs: it needs root.";
        }
    }
}
