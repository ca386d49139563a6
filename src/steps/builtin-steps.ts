import { makeCatalog, type StepCatalog } from "./catalog.js";
import { utilSteps } from "./util/index.js";

/** Every step type mediaflow ships with. */
export function builtinCatalog(): StepCatalog {
  return makeCatalog([...utilSteps]);
}
