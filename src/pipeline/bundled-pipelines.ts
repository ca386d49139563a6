import { fileURLToPath } from "node:url";

/** The pipelines shipped in the package's `pipelines/` folder (this file runs from dist/src/pipeline/). */
export const bundledPipelinesDir = fileURLToPath(new URL("../../../pipelines/", import.meta.url));
