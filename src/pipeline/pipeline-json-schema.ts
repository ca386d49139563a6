import { z } from "zod";
import type { StepCatalog } from "../steps/catalog.js";
import { durationSchema } from "../util/duration.js";
import { pipelineSchema } from "./pipeline-schema.js";

type SchemaNode = Record<string, unknown>;

const draft = "https://json-schema.org/draft/2020-12/schema";

// Mirrors what parseDuration accepts; a JSON Schema cannot call it, and editors only need the shape.
const durationPattern = "^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)\\s*$";
const paramReferencePattern = "^\\$\\{\\s*params\\.[^}]*\\}$";

/**
 * A JSON Schema (draft 2020-12) of pipeline files for editors (VS Code's YAML extension, JetBrains):
 * completion and checking of every field, `use` limited to the step types of `catalog`, and for each
 * step type its `with` described by its own schema, chosen by `use` (an if/then per type, which gives
 * editors clearer messages than a oneOf whose every branch fails).
 *
 * Generated from the same zod schemas that parsing uses, in input mode: fields with defaults are optional
 * and durations accept `2s` or milliseconds. What it cannot express (cycles, `needs` naming real steps,
 * parameter references) is left to `parsePipeline`.
 */
export function pipelineJsonSchema(catalog: StepCatalog): SchemaNode {
  const types = [...catalog.values()];
  // One generation for the pipeline and all step types, so recursive schemas (JSON values) share one
  // `$defs` and their references stay valid once the pipeline part is lifted to the root.
  const combined = z.object({
    pipeline: pipelineSchema,
    with: z.object(Object.fromEntries(types.map((type) => [type.type, type.params]))),
  });
  const generated = z.toJSONSchema(combined, {
    target: "draft-2020-12",
    io: "input",
    unrepresentable: "any",
    override: ({ zodSchema, jsonSchema }) => {
      if (zodSchema === durationSchema) describeDuration(jsonSchema);
    },
  }) as SchemaNode;

  const parts = child(generated, "properties");
  const root = child(parts, "pipeline");
  const withByType = child(child(parts, "with"), "properties");
  const steps = child(child(root, "properties"), "steps");
  steps.minProperties = 1;
  const step = child(steps, "additionalProperties");
  const use = child(child(step, "properties"), "use");
  // An empty enum or allOf is not a valid schema; a catalogue without types only happens in tests.
  if (types.length > 0) use.enum = types.map((type) => type.type);
  if (types.length > 0)
    step.allOf = types.map((type) => ({
      if: { properties: { use: { const: type.type } }, required: ["use"] },
      // biome-ignore lint/suspicious/noThenProperty: `then` is the JSON Schema keyword; this object is never awaited.
      then: {
        properties: {
          with: { ...acceptParamReferences(child(withByType, type.type)), description: type.description },
        },
      },
    }));

  const defs: SchemaNode = {
    ...(isNode(generated.$defs) ? generated.$defs : {}),
    paramReference: {
      type: "string",
      pattern: paramReferencePattern,
      description: `\${params.name}: replaced by the parameter's value when a job is created.`,
    },
  };
  return { $schema: draft, title: "mediaflow pipeline", ...root, $defs: defs };
}

function describeDuration(schema: SchemaNode): void {
  schema.description ??= "A duration: milliseconds, or a number with a unit: 500ms, 2s, 5m, 1.5h, 7d.";
  const branches = Array.isArray(schema.anyOf) ? schema.anyOf : [];
  for (const branch of branches) {
    if (isNode(branch) && branch.type === "string") branch.pattern = durationPattern;
  }
}

/**
 * Lets each top-level field of a `with` schema also be a `${params.x}` string, so that
 * `height: "${params.height}"` is not flagged for not being a number. Nested references are rare enough
 * that the editor may flag them; parsing accepts them.
 */
function acceptParamReferences(schema: SchemaNode): SchemaNode {
  if (!isNode(schema.properties)) return schema;
  const properties = Object.fromEntries(
    Object.entries(schema.properties).map(([key, field]) => {
      const either = { anyOf: [field, { $ref: "#/$defs/paramReference" }] };
      // Hover text lives on the outer schema, where editors look for it.
      return [
        key,
        isNode(field) && field.description !== undefined
          ? { description: field.description, ...either }
          : either,
      ];
    }),
  );
  return { ...schema, properties };
}

function isNode(value: unknown): value is SchemaNode {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** A nested schema zod is known to produce; its absence means zod changed its output, a bug to surface. */
function child(node: SchemaNode, key: string): SchemaNode {
  const value = node[key];
  if (!isNode(value)) throw new Error(`pipeline JSON Schema: expected an object at "${key}"`);
  return value;
}
