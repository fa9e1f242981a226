using Indexer.Embedding;

namespace Indexer.Training.Tests;

/// <summary>Imports ResNet18 once for the tests that need the real backbone (about a second).</summary>
public sealed class ResNet18Fixture
{
    public ImportedModel Backbone { get; } = ResNet18Model.Import(ResNet18Model.DefaultModelPath, ResNet18Model.DefaultPreprocessPath, "resnet18");
}

[CollectionDefinition(Name)]
public sealed class ResNet18Collection : ICollectionFixture<ResNet18Fixture>
{
    public const string Name = "ResNet18";
}
