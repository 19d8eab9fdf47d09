import type { FastifyInstance } from "fastify";
import type { Asset } from "../assets.js";

export interface AssetRoutesOptions {
  /** Path → file, read once (assets.ts): the page, its modules and styles, uPlot. */
  assets: ReadonlyMap<string, Asset>;
}

/** The page and everything it loads, served by orderflow itself (no CDN: it works offline). */
export async function assetRoutes(app: FastifyInstance, o: AssetRoutesOptions): Promise<void> {
  for (const [path, asset] of o.assets) {
    app.get(path, async (_req, reply) =>
      reply.header("content-type", asset.contentType).header("cache-control", "no-cache").send(asset.body),
    );
  }
}
