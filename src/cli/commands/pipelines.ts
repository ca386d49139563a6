import { bundledPipelinesDir } from "../../pipeline/bundled-pipelines.js";
import { loadPipelineDir, loadPipelineFile } from "../../pipeline/load-pipelines.js";
import { pipelineJsonSchema } from "../../pipeline/pipeline-json-schema.js";
import { builtinCatalog } from "../../steps/builtin-steps.js";
import { helpForAction, parseCommandArgs, requirePositional } from "../args.js";
import { CliError, ExitCodes } from "../cli-error.js";
import type { Command } from "../command.js";

const usage = "mediaflow pipelines list | validate FILE... | schema";

/** Lists the bundled pipelines, validates pipeline files, prints the pipeline JSON Schema. */
export const pipelinesCommand: Command = async (context) => {
  const [action, ...rest] = context.args;
  helpForAction(action, usage);
  const catalog = builtinCatalog();
  switch (action) {
    case "list": {
      parseCommandArgs("pipelines list", rest, {}, usage);
      const pipelines = await loadPipelineDir(bundledPipelinesDir, catalog);
      for (const spec of [...pipelines.values()].sort((a, b) => a.name.localeCompare(b.name))) {
        const steps = Object.keys(spec.steps).length;
        context.stdout.write(
          `${spec.name.padEnd(20)} ${String(steps).padStart(2)} steps  ${spec.description ?? ""}\n`,
        );
      }
      return ExitCodes.ok;
    }
    case "validate": {
      const { positionals } = parseCommandArgs("pipelines validate", rest, {}, usage);
      requirePositional(positionals, 0, "FILE", usage);
      for (const file of positionals) {
        const spec = await loadPipelineFile(file, catalog);
        context.stdout.write(
          `${file}: pipeline ${spec.name} is valid (${Object.keys(spec.steps).length} steps)\n`,
        );
      }
      return ExitCodes.ok;
    }
    case "schema":
      parseCommandArgs("pipelines schema", rest, {}, usage);
      context.stdout.write(`${JSON.stringify(pipelineJsonSchema(catalog), null, 2)}\n`);
      return ExitCodes.ok;
    default:
      throw new CliError(`unknown pipelines command ${JSON.stringify(action ?? "")}\nusage: ${usage}`);
  }
};
