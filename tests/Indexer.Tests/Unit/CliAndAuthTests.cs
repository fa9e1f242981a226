using Indexer.Cli;
using Indexer.Silo.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Indexer.Tests.Unit;

public sealed class CliAndAuthTests
{
    [Theory]
    [InlineData("Trouser/img 1.png", "Trouser_img_1.png")]
    [InlineData("(copy) beach.jpg", "f_copy__beach.jpg")]
    [InlineData("é/ü.png", "é_ü.png")]
    public void ItemIdFor_RelativePath_BecomesAValidId(string relative, string expected)
    {
        var root = new DirectoryInfo(Path.Combine(Path.GetTempPath(), "root"));
        var id = Ingest.ItemIdFor(root, new FileInfo(Path.Combine(root.FullName, relative)));

        Assert.Equal(expected, id);
        Assert.True(Ids.IsValid(id));
    }

    [Fact]
    public void AuthSettings_ShortKeysBadIdsAndSharedKeys_AreRejectedNamingTheSetting()
    {
        var settings = new AuthSettings
        {
            Users =
            [
                new ApiUser { Id = "ok", ApiKey = "a-long-enough-key-1" },
                new ApiUser { Id = "short", ApiKey = "tiny" },
                new ApiUser { Id = "bad/id", ApiKey = "a-long-enough-key-2" },
                new ApiUser { Id = "twin", ApiKey = "a-long-enough-key-1" },
            ],
        };

        var result = new AuthSettingsValidator().Validate(null, settings);

        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.Contains("Users:1:ApiKey"));
        Assert.Contains(result.Failures!, f => f.Contains("Users:2:Id"));
        Assert.Contains(result.Failures!, f => f.Contains("share one API key"));
    }

    [Fact]
    public void Authenticate_KnownKeyUnknownKeyAndNoKey()
    {
        var authenticator = new ApiKeyAuthenticator(Options.Create(new AuthSettings
        {
            Users = [new ApiUser { Id = "alice", ApiKey = "alice-key-0123456789" }, new ApiUser { Id = "bob", ApiKey = "bob-key-0123456789ab" }],
        }));

        Assert.Equal("bob", authenticator.Authenticate(Request("bob-key-0123456789ab")));
        Assert.Null(authenticator.Authenticate(Request("bob-key-0123456789aX")));
        Assert.Null(authenticator.Authenticate(Request(null)));
    }

    [Fact]
    public async Task ErrorFilter_AGrainCallThatTimedOut_IsA504SayingTheRequestMayStillComplete()
    {
        var context = new DefaultEndpointFilterInvocationContext(new DefaultHttpContext());

        var result = await new IndexerErrorFilter().InvokeAsync(context, _ => throw new TimeoutException("Response did not arrive on time in 00:00:30"));

        var problem = Assert.IsType<Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult>(result);
        Assert.Equal(StatusCodes.Status504GatewayTimeout, problem.StatusCode);
        Assert.Contains("may still complete", problem.ProblemDetails.Detail);
    }

    private static HttpRequest Request(string? key)
    {
        var context = new DefaultHttpContext();
        if (key is not null) context.Request.Headers[Client.IndexerHttpClient.ApiKeyHeader] = key;
        return context.Request;
    }
}
