namespace Cairn.Cli;

/// <summary>One self-overwriting status line on standard error (only used when it is a terminal).</summary>
internal sealed class TerminalProgress : IDisposable
{
    private readonly Lock _lock = new();
    private int _width;
    private bool _done;

    public void Show(string line)
    {
        lock (_lock)
        {
            if (_done)
            {
                return;
            }

            var max = Math.Max(20, SafeWidth() - 1);
            if (line.Length > max)
            {
                line = line[..max];
            }

            Console.Error.Write('\r' + line.PadRight(_width));
            _width = line.Length;
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            if (_width > 0)
            {
                Console.Error.Write('\r' + new string(' ', _width) + '\r');
            }

            _done = true;
        }
    }

    public void Dispose() => Clear();

    private static int SafeWidth()
    {
        try
        {
            return Console.WindowWidth;
        }
        catch (IOException)
        {
            return 80;
        }
    }
}
