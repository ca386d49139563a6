import { audioSteps } from "./audio/index.js";
import { makeCatalog, type StepCatalog } from "./catalog.js";
import { imageSteps } from "./image/index.js";
import { mediaSteps } from "./media/index.js";
import { utilSteps } from "./util/index.js";
import { videoDeliverySteps } from "./video/delivery-steps.js";
import { videoEditingSteps } from "./video/editing-steps.js";
import { videoEncodingSteps } from "./video/encoding-steps.js";

/** Every step type mediaflow ships with. */
export function builtinCatalog(): StepCatalog {
  return makeCatalog([
    ...utilSteps,
    ...mediaSteps,
    ...imageSteps,
    ...audioSteps,
    ...videoEncodingSteps,
    ...videoDeliverySteps,
    ...videoEditingSteps,
  ]);
}
