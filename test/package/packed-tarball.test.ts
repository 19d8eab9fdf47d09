import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { cliEnv } from "../helpers/cli.js";
import { connectTo, readStored, subjectCounts, waitSettled, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

// The package as a team installs it: `npm pack`, then `npm install <tarball>` in a fresh `npm init -y`
// folder (CommonJS by default) with an ES module sub-folder, handlers kept there, not in this repo.
// Needs the npm registry for orderflow's dependencies.
const REPO = fileURLToPath(new URL("../../", import.meta.url));
const TSC = join(REPO, "node_modules/.bin/tsc");
const run = promisify(execFile);
const INSTALL_TIMEOUT_MS = 240_000;

let project = "";
let tarballFiles: string[] = [];

beforeAll(async () => {
  project = mkdtempSync(join(tmpdir(), "orderflow-adopter-"));
  // --ignore-scripts: the suite's global setup has checked that dist/ is fresh; no second build.
  const packed = await run("npm", ["pack", "--ignore-scripts", "--pack-destination", project], { cwd: REPO });
  const tarball = join(project, packed.stdout.trim().split("\n").at(-1) ?? "");
  tarballFiles = (await run("tar", ["tzf", tarball])).stdout.split("\n").filter((l) => l !== "");
  await run("npm", ["init", "-y"], { cwd: project });
  await run("npm", ["install", "--no-audit", "--no-fund", tarball], {
    cwd: project,
    timeout: INSTALL_TIMEOUT_MS,
  });
  mkdirSync(join(project, "esm"));
  writeFileSync(join(project, "esm/package.json"), '{ "type": "module" }\n');
}, INSTALL_TIMEOUT_MS + 60_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

// Each handler also says whether its InvalidOrderError is the running worker's own class: one copy
// of orderflow in the process, not a second one loaded for the handler (main.ts publishes its library
// under this symbol for CommonJS callers).
const SAME = `(globalThis as any)[Symbol.for("orderflow.library")]?.InvalidOrderError === InvalidOrderError`;
const TS_HANDLER = `import { InvalidOrderError, type HandlerContext, type OrderInput } from "orderflow";
export default async function (order: OrderInput, ctx: HandlerContext): Promise<string> {
  if (order.orderNo.endsWith("7")) throw new InvalidOrderError("ends-in-7", "orders ending in 7 are refused");
  ctx.setHeader("Orderflow-Same-Library", String(${SAME}));
  return \`\${order.orderNo},processed\`;
}
`;
const ESM_JS_HANDLER = `import { InvalidOrderError } from "orderflow";
export default async function (order, ctx) {
  if (order.orderNo.endsWith("7")) throw new InvalidOrderError("ends-in-7", "orders ending in 7 are refused");
  ctx.setHeader("Orderflow-Same-Library", String(${SAME.replace(" as any", "")}));
  return order.orderNo + ",processed";
}
`;
const CJS_JS_HANDLER = `const { InvalidOrderError } = require("orderflow");
module.exports = async function (order, ctx) {
  if (order.orderNo.endsWith("7")) throw new InvalidOrderError("ends-in-7", "orders ending in 7 are refused");
  ctx.setHeader("Orderflow-Same-Library", String(${SAME.replace(" as any", "")}));
  return order.orderNo + ",processed";
};
`;

describe("the packed tarball, installed in a fresh npm project", () => {
  it("holds the built library, its types and the bin, and none of the tests", () => {
    expect(tarballFiles).toEqual(
      expect.arrayContaining([
        "package/dist/main.js",
        "package/dist/index.js",
        "package/dist/index.cjs",
        "package/dist/index.d.ts",
        "package/dist/dashboard/public/index.html",
        "package/deploy/prometheus/alerts.yml",
      ]),
    );
    expect(tarballFiles.filter((f) => /(^package\/test\/|\.test\.)/.test(f))).toEqual([]);
  });

  it.each([
    ["handler.ts", "CommonJS", TS_HANDLER],
    ["handler.mts", "CommonJS", TS_HANDLER],
    ["handler.mjs", "CommonJS", ESM_JS_HANDLER],
    ["handler.js", "CommonJS", CJS_JS_HANDLER],
    ["esm/handler.ts", "ES module", TS_HANDLER],
    ["esm/handler.js", "ES module", ESM_JS_HANDLER],
  ])(
    "runs %s (a %s project) importing from orderflow: 7s dead-lettered by its InvalidOrderError",
    async (name, _kind, source) => {
      writeFileSync(join(project, name), source);
      const server = await startServer();
      const nc = await connectTo(server);
      const jsm = await withTopology(nc);
      for (const orderNo of ["1", "2", "7", "17", "20"]) await nc.request("ORDERS.received", orderNo);
      const worker = startInstalledCli(["worker", "processor", "-s", server.url, "--handler", `./${name}`]);
      await waitFor("all five settled", async () => {
        if (worker.exitCode() !== null) throw new Error(`worker exited:\n${worker.stderr()}`);
        const c = await subjectCounts(jsm);
        return c["ORDERS.processed"] === 3 && c["ORDERS.failed"] === 2;
      });
      const dead = await readStored(nc, "ORDERS.failed");
      expect(dead.map((m) => m.headers.get("Orderflow-Reason"))).toEqual(["ends-in-7", "ends-in-7"]);
      const processed = await readStored(nc, "ORDERS.processed");
      expect(processed.map((m) => m.headers.get("Orderflow-Same-Library"))).toEqual(["true", "true", "true"]);
      await waitSettled(jsm, "NEW");
      expect(await worker.interrupt()).toBe(0);
    },
  );

  it.each([["types.ts"], ["esm/types.ts"]])("types resolve for a TypeScript handler (%s)", async (name) => {
    writeFileSync(join(project, name), TS_HANDLER);
    const dir = join(project, name.includes("/") ? "esm" : "");
    const r = await run(
      TSC,
      [
        "--noEmit",
        "--strict",
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--skipLibCheck",
        name.split("/").at(-1) ?? name,
      ],
      { cwd: dir },
    ).catch((err: { stdout: string; code: number }) => ({ stdout: err.stdout, code: err.code }));
    expect(r.stdout).toBe("");
  });

  it('a .js handler written with import in the CommonJS project: one line naming the file and line, hint .mjs / "type": "module"', async () => {
    writeFileSync(join(project, "esm-syntax.js"), ESM_JS_HANDLER);
    const worker = startInstalledCli([
      "worker",
      "processor",
      "-s",
      "nats://127.0.0.1:1",
      "--handler",
      "./esm-syntax.js",
    ]);
    expect(await worker.exited).toBe(1);
    const last = worker.stderr().trim().split("\n").at(-1) ?? "";
    expect(last).toContain("esm-syntax.js:1: Cannot use import statement outside a module");
    expect(last).toMatch(/rename the handler to \.mjs.*"type": "module"/);
  });
});

interface InstalledCli {
  stderr(): string;
  exitCode(): number | null;
  interrupt(): Promise<number | null>;
  exited: Promise<number | null>;
}

/** `./node_modules/.bin/orderflow …` in the adopter's project, as its README tells them to run it. */
function startInstalledCli(args: string[]): InstalledCli {
  const child = spawn(join(project, "node_modules/.bin/orderflow"), args, {
    cwd: project,
    env: cliEnv({ ORDERFLOW_LOG_LEVEL: "info" }),
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr.on("data", (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  });
  return {
    stderr: () => err,
    exitCode: () => child.exitCode,
    interrupt: async () => {
      child.kill("SIGINT");
      return exited;
    },
    exited,
  };
}
