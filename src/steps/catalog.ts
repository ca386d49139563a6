import type { StepType } from "./step-type.js";

/** The step types a process knows, by type name. */
export type StepCatalog = ReadonlyMap<string, StepType>;

export function makeCatalog(types: Iterable<StepType>): StepCatalog {
  const catalog = new Map<string, StepType>();
  for (const type of types) {
    if (catalog.has(type.type)) throw new Error(`step type ${type.type} is defined twice`);
    catalog.set(type.type, type);
  }
  return catalog;
}
