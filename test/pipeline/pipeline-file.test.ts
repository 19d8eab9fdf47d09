import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PipelineFileError } from "../../src/common/errors.js";
import { findPipelineFile, loadPipelineFile } from "../../src/runtime/pipeline-file.js";
import { consumerConfigs, DEFAULT_TOPOLOGY, stagesOf, topologyOptions } from "../../src/topology/spec.js";
import { runCli } from "../helpers/cli.js";
import { SHOP_CONFIG, shopTopology } from "../helpers/pipelines.js";

async function dirWith(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "orderflow-pipeline-"));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

/** The one line a broken file gives, as the CLI prints it (message; hint). */
async function problemOf(name: string, text: string): Promise<string> {
  const dir = await dirWith({ [name]: text });
  const err = await loadPipelineFile(name, dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PipelineFileError);
  return (err as PipelineFileError).oneLine();
}

const STAGE = (over: Record<string, unknown> = {}) => ({
  name: "validator",
  input: "received",
  output: "validated",
  ...over,
});

describe("pipeline file: read and checked", () => {
  it("the shop example as TypeScript, and the same as JSON and YAML, give one topology", async () => {
    const ts = await shopTopology();
    const { topology } = await loadPipelineFile(SHOP_CONFIG);
    const asJson = JSON.stringify({
      stages: topology.stages.map((s) => ({
        name: s.name,
        consumer: s.consumer,
        input: s.input,
        output: `ORDERS.${s.output}`,
        ...(s.handler ? { handler: s.handler } : {}),
        ...(s.name === "payer" ? { rateLimit: "200/s", timeout: "10s", attempts: 3 } : {}),
      })),
    });
    const yaml = `stages:\n${topology.stages
      .map(
        (s) =>
          `  - name: ${s.name}\n    consumer: ${s.consumer}\n    input: ${s.input}\n    output: ${s.output}\n${s.handler ? `    handler: ${s.handler}\n` : ""}${s.name === "payer" ? "    rateLimit: 200/s\n    timeout: 10000\n    attempts: 3\n" : ""}`,
      )
      .join("")}`;
    const dir = await dirWith({ "a.json": asJson, "b.yaml": yaml });
    const fromJson = topologyOptions((await loadPipelineFile("a.json", dir)).topology);
    const fromYaml = topologyOptions((await loadPipelineFile("b.yaml", dir)).topology);
    expect(fromJson).toEqual(ts);
    expect(fromYaml).toEqual(ts);
    expect(stagesOf(ts).map((s) => [s.name, s.consumer, s.input, s.output])).toEqual([
      ["validator", "VALIDATE", "received", "validated"],
      ["reserver", "RESERVE", "validated", "reserved"],
      ["payer", "PAY", "reserved", "paid"],
      ["shipper", "SHIP", "paid", "shipped"],
      ["completer", "COMPLETE", "shipped", "completed"],
    ]);
    expect(stagesOf(ts)[2]?.tuning).toEqual({
      rateLimit: { limit: 200, windowMs: 1000 },
      handlerTimeoutMs: 10_000,
      maxAttempts: 3,
    });
  });

  it("a file declaring the seed's pipeline gives the seed's consumers exactly", async () => {
    const dir = await dirWith({
      "seed.yaml": [
        "stages:",
        "  - { name: processor, consumer: NEW, input: received, output: processed }",
        "  - { name: dispatcher, consumer: DISPATCH, input: processed, output: completed }",
      ].join("\n"),
    });
    const declared = topologyOptions((await loadPipelineFile("seed.yaml", dir)).topology);
    expect(consumerConfigs(declared)).toEqual(consumerConfigs(DEFAULT_TOPOLOGY));
  });

  it("each kind of mistake is one line naming the file, the field and the fix", async () => {
    expect(
      await problemOf(
        "p.yaml",
        "stages:\n  - { name: validator, input: received, output: validated, ackwait: 5s }",
      ),
    ).toBe(
      'p.yaml: stages[0]: unknown field "ackwait"; the fields here are name, consumer, input, output, handler, ackWait, maxAckPending, batch, maxInFlight, attempts, timeout, concurrency, rateLimit',
    );
    expect(await problemOf("p.json", JSON.stringify({ stages: [STAGE({ ackWait: "soon" })] }))).toBe(
      'p.json: stages[0].ackWait: "soon" is not a duration; write the consumer\'s ack wait, e.g. 30s, 250ms or 1m30s; docs/pipeline.md describes every field',
    );
    expect(
      await problemOf(
        "p.json",
        JSON.stringify({ stages: [STAGE(), STAGE({ name: "payer", input: "reserved", output: "paid" })] }),
      ),
    ).toBe(
      'p.json: stages[1].input: "reserved" is not what stage "validator" writes ("validated"); stages run in order, each reading what the one before writes',
    );
    expect(await problemOf("p.json", JSON.stringify({ stages: [STAGE({ output: "failed" })] }))).toMatch(
      /^p\.json: stages: "failed" is kept for dead letters; name the step otherwise/,
    );
    expect(await problemOf("p.json", JSON.stringify({ stages: [STAGE({ output: "a.b" })] }))).toBe(
      'p.json: stages[0].output: "a.b" is not a step of the stream ORDERS.*; write one token (validated) or ORDERS.<token>',
    );
    expect(await problemOf("p.json", JSON.stringify({ stages: [STAGE({ output: "2" })] }))).toBe(
      'p.json: stages[0].output: "2" is all digits; give the step a name with a letter in it, e.g. step2',
    );
    expect(await problemOf("p.json", JSON.stringify({ stages: [STAGE({ name: "indexer" })] }))).toBe(
      'p.json: stages[0].name: "indexer" and "none" are kept for `up --workers`; name the stage otherwise; docs/pipeline.md describes every field',
    );
    expect(await problemOf("p.json", JSON.stringify({ stages: [] }))).toBe(
      "p.json: stages: a pipeline needs at least one stage; docs/pipeline.md describes every field",
    );
    expect(
      await problemOf("p.json", JSON.stringify({ stages: [{ name: "Validator", input: "received" }] })),
    ).toMatch(
      /^p\.json: stages\[0\]\.name: a stage name is lower case.* \(and 1 more problem\); docs\/pipeline\.md/,
    );
    expect(await problemOf("p.yaml", "stages: [ { name: x")).toMatch(
      /^p\.yaml: is not valid YAML: .+; fix the syntax at the place named$/,
    );
    expect(await problemOf("p.json", "{ stages: ")).toMatch(
      /^p\.json: is not valid JSON: .+; fix the syntax at the place named$/,
    );
    expect(await problemOf("p.ts", "export const other = 1;\n")).toBe(
      "p.ts: exports no pipeline; export default definePipeline({ stages: [ … ] })",
    );
    expect(await problemOf("p.toml", "stages = []")).toBe(
      'p.toml: "p.toml" is not a pipeline file; use .ts, .js, .mjs, .json, .yaml or .yml',
    );
  });

  it("is found in the working directory when not given; a given file that is missing is one line", async () => {
    const dir = await dirWith({ "orderflow.config.json": JSON.stringify({ stages: [STAGE()] }) });
    expect(await findPipelineFile(undefined, dir)).toBe("orderflow.config.json");
    expect(await findPipelineFile(undefined, tmpdir())).toBeUndefined();
    await expect(findPipelineFile("nope.yaml", dir)).rejects.toThrow(/^nope\.yaml: no such file$/);
  });

  it("the CLI: a broken file stops any command before it connects, in one line, exit 1", async () => {
    const dir = await dirWith({
      "orderflow.config.yaml":
        "stages:\n  - { name: validator, input: received, output: validated, maxAckPending: 0 }\n",
    });
    // No server is reachable at this address: the file is refused first, whatever the command.
    for (const args of [["status"], ["worker", "validator"], ["setup"], ["pub", "ORDERS.received", "1"]]) {
      const res = await runCli([...args, "-s", "nats://127.0.0.1:1"], { cwd: dir });
      expect(res.code, args.join(" ")).toBe(1);
      expect(res.stderr.trim().split("\n"), args.join(" ")).toEqual([
        "orderflow: orderflow.config.yaml: stages[0].maxAckPending: Too small: expected number to be >=1; docs/pipeline.md describes every field",
      ]);
    }
    const missing = await runCli(["--config", "gone.ts", "status"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe(
      "orderflow: gone.ts: no such file; give the path of an orderflow.config.ts, .js, .json or .yaml file (docs/pipeline.md)",
    );
    const flagged = await runCli([
      "--config",
      SHOP_CONFIG,
      "up",
      "--processor-handler",
      "x.ts",
      "-s",
      "nats://127.0.0.1:1",
    ]);
    expect(flagged.code).toBe(1);
    expect(flagged.stderr.trim()).toBe(
      `orderflow: --processor-handler: the pipeline has no stage named processor; name a stage's module in ${SHOP_CONFIG} (its handler field)`,
    );
    const unknown = await runCli([
      "--config",
      SHOP_CONFIG,
      "worker",
      "processor",
      "-s",
      "nats://127.0.0.1:1",
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toBe(
      `orderflow: unknown stage "processor" in ${SHOP_CONFIG}; use validator, reserver, payer, shipper, completer`,
    );
  });
});
