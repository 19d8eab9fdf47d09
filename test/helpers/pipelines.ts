import { fileURLToPath } from "node:url";
import { loadPipelineFile } from "../../src/runtime/pipeline-file.js";
import { type TopologyOptions, topologyOptions } from "../../src/topology/spec.js";

/** The five-stage example: received → validated → reserved → paid → shipped → completed. */
export const SHOP_CONFIG = fileURLToPath(new URL("../../examples/shop/orderflow.config.ts", import.meta.url));

/** The shop example's topology, as `--config examples/shop/orderflow.config.ts` gives every command. */
export async function shopTopology(overrides: Partial<TopologyOptions> = {}): Promise<TopologyOptions> {
  const { topology } = await loadPipelineFile(SHOP_CONFIG);
  return topologyOptions({ ...topology, ...overrides });
}
