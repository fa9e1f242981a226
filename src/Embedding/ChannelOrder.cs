namespace Indexer.Embedding;

/// <summary>
/// Order of the three colour planes in a model's input tensor. Models trained in Caffe/CNTK style
/// expect BGR, most others RGB; getting it wrong silently degrades every embedding.
/// </summary>
public enum ChannelOrder
{
    /// <summary>Plane 0 is red, 1 green, 2 blue.</summary>
    Rgb = 0,

    /// <summary>Plane 0 is blue, 1 green, 2 red.</summary>
    Bgr = 1,
}
