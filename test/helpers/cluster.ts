import { jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { onTestFinished } from "vitest";
import { ErrorCode, OrderflowError } from "../../src/common/errors.js";
import { NatsServer } from "../../src/common/nats-server.js";
import { freePorts } from "./free-port.js";
import { waitFor } from "./wait.js";

export interface ClusterOptions {
  /** Number of nodes; default 3 (the smallest cluster that keeps a quorum when one node dies). */
  size?: number;
  /** `cluster.name`; default `orderflow-test`. */
  name?: string;
  /** How long to wait for the JetStream meta group to elect a leader; default 30 s. */
  readyTimeoutMs?: number;
  /** How long a new cluster may take to form before it is started again from scratch; default 20 s. */
  formTimeoutMs?: number;
}

/**
 * A new cluster whose meta group did not take in every node. Seen on 2.10 under load: the group
 * formed as two peers (cluster_size 2) and the third node followed its leader without ever being
 * added, for longer than any test waits. Starting the nodes again on fresh stores cures it.
 */
class ClusterFormationError extends Error {
  constructor(cause: unknown) {
    super(`the cluster did not form: ${String(cause)}`, { cause });
  }
}

/** What `/jsz` reports about the JetStream meta group (the part we read). */
interface MetaCluster {
  name?: string;
  leader?: string;
  cluster_size?: number;
  replicas?: Array<{ name: string; current: boolean; offline?: boolean }>;
}

/**
 * A JetStream cluster of nats-servers on loopback: each node has its own client, monitoring and
 * route port, store dir and `server_name` (n1, n2, …), and routes to every other node. Nodes can be
 * killed and restarted on the same ports and store, as a crashed and recovered machine would be.
 */
export class TestCluster {
  private constructor(
    readonly nodes: readonly NatsServer[],
    readonly names: readonly string[],
    private readonly readyTimeoutMs: number,
  ) {}

  static async start(opts: ClusterOptions = {}): Promise<TestCluster> {
    const size = opts.size ?? 3;
    const clusterName = opts.name ?? "orderflow-test";
    const routePorts = await freePorts(size);
    const routes = routePorts.map((p) => `"nats-route://127.0.0.1:${p}"`).join(", ");
    const names = routePorts.map((_, i) => `n${i + 1}`);
    const started = await Promise.allSettled(
      routePorts.map((routePort, i) =>
        NatsServer.start({
          serverName: names[i],
          maxFileStore: "1G",
          extraConfig: [
            "cluster {",
            `  name: "${clusterName}"`,
            `  listen: "127.0.0.1:${routePort}"`,
            `  routes: [${routes}]`,
            "}",
          ].join("\n"),
        }),
      ),
    );
    const nodes = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      await Promise.all(nodes.map((n) => n.cleanup()));
      throw failed.reason;
    }
    const cluster = new TestCluster(nodes, names, opts.readyTimeoutMs ?? 30_000);
    onTestFinished(async (ctx) => {
      if (ctx.task.result?.state === "fail") {
        for (const [i, node] of nodes.entries()) {
          process.stderr.write(`--- nats-server ${names[i]} log (port ${node.port}) ---\n`);
          process.stderr.write(`${node.logs().slice(-3000)}\n`);
        }
      }
      await Promise.all(nodes.map((n) => n.cleanup()));
    });
    try {
      await cluster.waitForPlacement(opts.formTimeoutMs ?? 20_000);
    } catch (err) {
      await Promise.all(nodes.map((n) => n.cleanup()));
      throw new ClusterFormationError(err);
    }
    return cluster;
  }

  /** Client URL of each node, in node order (they stay the same across restarts). */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  /** All client URLs joined by commas: what `--server` takes. */
  get url(): string {
    return this.urls.join(",");
  }

  /** Client URLs of the nodes that are running now. */
  runningUrls(): string[] {
    return this.nodes.filter((n) => n.running).map((n) => n.url);
  }

  private node(i: number): NatsServer {
    const n = this.nodes[i];
    if (!n) throw new Error(`no node ${i} in a cluster of ${this.nodes.length}`);
    return n;
  }

  /** Crashes node `i` (SIGKILL). */
  async kill(i: number): Promise<void> {
    await this.node(i).kill();
  }

  /** Stops node `i` gracefully (SIGTERM). */
  async stop(i: number): Promise<void> {
    await this.node(i).stop();
  }

  /**
   * Starts node `i` again on its ports and store (stopping it first if it runs) and waits until it
   * is back in the meta group, so a test can count on it.
   */
  async restart(i: number): Promise<void> {
    await this.node(i).restart();
    await this.waitForPlacement();
  }

  /**
   * Waits for the meta group (waitForMeta), then until the leader can place a stream on every node.
   * The meta leader learns each peer's resources from a separate, periodic stats exchange: on 2.10
   * a peer can be a current raft follower and still "offline" for placement for a while, so an R3
   * create right after the meta group formed failed with "no suitable peers for placement". Only a
   * real placement proves it: an R<size> memory stream is created and deleted.
   */
  async waitForPlacement(timeoutMs = this.readyTimeoutMs): Promise<void> {
    await this.waitForMeta(timeoutMs);
    if (this.nodes.some((n) => !n.running)) return;
    const probe = `PLACEMENT_PROBE_${process.pid}`;
    await waitFor(
      `room to place a stream on all ${this.nodes.length} nodes`,
      async () => {
        const nc = await connect({ servers: this.urls, name: "test-cluster", timeout: 2000 });
        try {
          const jsm = await jetstreamManager(nc);
          await jsm.streams.add({
            name: probe,
            subjects: [`_probe.${probe}`],
            storage: StorageType.Memory,
            num_replicas: this.nodes.length,
          });
          await jsm.streams.delete(probe);
          return true;
        } finally {
          await nc.close();
        }
      },
      { timeoutMs, intervalMs: 250 },
    );
  }

  /**
   * Waits until every running node names the same running meta leader and that leader sees every
   * other running node as current: only then can R3 streams be placed and API requests answered.
   */
  async waitForMeta(timeoutMs = this.readyTimeoutMs): Promise<void> {
    await waitFor(
      "a JetStream meta leader that every running node follows",
      async () => {
        const running = this.nodes.flatMap((n, i) => (n.running ? [i] : []));
        const metas = await Promise.all(running.map((i) => this.meta(i)));
        // What the timeout reports when this never turns true: each node's view of the meta group.
        const views = new Error(
          `meta groups seen: ${JSON.stringify(running.map((i, k) => ({ node: this.names[i], meta: metas[k] })))}`,
        );
        const leader = metas[0]?.leader;
        if (!leader || metas.some((m) => m?.leader !== leader)) throw views;
        const leaderIndex = this.names.indexOf(leader);
        if (!running.includes(leaderIndex)) throw views;
        // Only the leader lists its peers (followers report no replicas).
        const peers = metas[running.indexOf(leaderIndex)]?.replicas ?? [];
        const followed = running
          .filter((i) => i !== leaderIndex)
          .every((i) => peers.some((p) => p.name === this.names[i] && p.current && !p.offline));
        if (!followed) throw views;
        return true;
      },
      { timeoutMs, intervalMs: 100 },
    );
  }

  /** `/jsz` meta group of node `i`, or undefined while it does not answer. */
  async meta(i: number): Promise<MetaCluster | undefined> {
    const node = this.node(i);
    if (!node.running || node.monitorPort === 0) return undefined;
    const res = await fetch(`http://127.0.0.1:${node.monitorPort}/jsz`);
    if (!res.ok) return undefined;
    const body = (await res.json()) as { meta_cluster?: MetaCluster };
    return body.meta_cluster;
  }

  /**
   * Index of the node that leads `stream` (or its `consumer`) now, read from stream (consumer) info
   * through the running nodes. Waits while there is no leader, as during an election after a kill.
   */
  async leaderOf(stream: string, consumer?: string): Promise<number> {
    const what = consumer ? `consumer ${stream} > ${consumer}` : `stream ${stream}`;
    const name = await waitFor(
      `a leader for ${what}`,
      async () => {
        const nc = await connect({ servers: this.runningUrls(), name: "test-cluster", timeout: 2000 });
        try {
          const jsm = await jetstreamManager(nc);
          const info = consumer ? await jsm.consumers.info(stream, consumer) : await jsm.streams.info(stream);
          return info.cluster?.leader;
        } finally {
          await nc.close();
        }
      },
      { timeoutMs: this.readyTimeoutMs, intervalMs: 100 },
    );
    const index = this.names.indexOf(name);
    if (index < 0) throw new Error(`${what} is led by unknown server "${name}"`);
    return index;
  }
}

/**
 * A cluster of this test's own, removed when the test ends (node logs printed if it failed).
 * Tried again when a port it picked was taken before a node could bind it: the route ports are
 * chosen before the nodes start, and on a busy machine another process (or a sibling node's own
 * random client port) can grab one in between, and when the nodes did not form one cluster
 * (ClusterFormationError); each retry is said on stderr.
 */
export async function startCluster(opts: ClusterOptions = {}, attempts = 3): Promise<TestCluster> {
  for (let i = 1; ; i++) {
    try {
      return await TestCluster.start(opts);
    } catch (err) {
      const portTaken =
        err instanceof OrderflowError &&
        err.code === ErrorCode.ServerStart &&
        err.message.includes("address already in use");
      if (!(portTaken || err instanceof ClusterFormationError) || i >= attempts) throw err;
      process.stderr.write(
        `startCluster: attempt ${i} of ${attempts} failed, starting again: ${String(err)}\n`,
      );
    }
  }
}
