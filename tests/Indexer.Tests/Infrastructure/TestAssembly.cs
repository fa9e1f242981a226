// The end-to-end fixtures each run a silo with ONNX inference; on a two-core machine they must not run at once.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
