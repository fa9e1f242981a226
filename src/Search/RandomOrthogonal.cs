namespace Indexer.Search;

/// <summary>Random orthogonal matrices: rotations of an embedding space that preserve every inner product.</summary>
public static class RandomOrthogonal
{
    /// <summary>
    /// A <paramref name="dimension"/> x <paramref name="dimension"/> orthogonal matrix (row-major), from Gram-Schmidt on
    /// a matrix of Gaussian entries with the given seed: the same seed gives the same matrix.
    /// </summary>
    public static float[] Create(int dimension, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        var random = new Random(seed);
        var rows = new double[dimension][];
        for (var i = 0; i < dimension; i++)
        {
            var row = new double[dimension];
            for (var j = 0; j < dimension; j++)
            {
                // Box-Muller: two uniforms to one standard normal.
                row[j] = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            }

            // Modified Gram-Schmidt, twice, for orthogonality to float precision.
            for (var pass = 0; pass < 2; pass++)
            {
                for (var k = 0; k < i; k++)
                {
                    var dot = 0.0;
                    for (var j = 0; j < dimension; j++) dot += row[j] * rows[k][j];
                    for (var j = 0; j < dimension; j++) row[j] -= dot * rows[k][j];
                }
            }

            var norm = Math.Sqrt(row.Sum(v => v * v));
            for (var j = 0; j < dimension; j++) row[j] /= norm;
            rows[i] = row;
        }

        var matrix = new float[dimension * dimension];
        for (var i = 0; i < dimension; i++)
        {
            for (var j = 0; j < dimension; j++) matrix[i * dimension + j] = (float)rows[i][j];
        }

        return matrix;
    }
}
