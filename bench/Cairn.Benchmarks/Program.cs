using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/Cairn.Benchmarks -- --filter '*'        (all)
// dotnet run -c Release --project bench/Cairn.Benchmarks -- --filter '*Manifest*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
