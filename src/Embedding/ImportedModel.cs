namespace Indexer.Embedding;

/// <summary>
/// A model ready for registration: the serialized ONNX graph and the manifest that says how to feed it.
/// Store both together; the bytes are meaningless without the manifest's preprocessing.
/// </summary>
/// <param name="Onnx">Serialized ONNX model.</param>
/// <param name="Manifest">Validated manifest describing inputs, outputs and preprocessing.</param>
public sealed record ImportedModel(byte[] Onnx, ModelManifest Manifest);
