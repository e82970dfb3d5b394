/** The node software's version, reported by `--version` and `GET /api/v1/node`. Kept equal to package.json's by a test. */
export const VERSION = "0.1.0";
