import type { ServerResponse } from "node:http";
import { guard } from "../common/callback-guard.js";
import { type Logger, silentLogger } from "../common/logger.js";
import type { FeedEvent, LiveState } from "./live-state.js";

export interface SseOptions {
  /** How often every page gets a snapshot. Default 1,000 ms. */
  snapshotMs: number;
  /** How often new order events are sent, batched. Default 250 ms. */
  batchMs: number;
  /** Most events per batch; older ones in a busy batch are counted, not sent. Default 100. */
  maxBatch: number;
  /** Comment line that keeps proxies from closing an idle stream. Default 15,000 ms. */
  keepAliveMs: number;
}

export const DEFAULT_SSE_OPTIONS: Readonly<SseOptions> = Object.freeze({
  snapshotMs: 1_000,
  batchMs: 250,
  maxBatch: 100,
  keepAliveMs: 15_000,
});

/**
 * The page's live channel: server-sent events, one stream per open page. `hello` (everything, once),
 * `snapshot` (counts, backlogs, latency, dead letters: every refresh) and `orders` (new events from
 * MONITOR, batched; at thousands of orders a second a page shows a sample, and says how many it skipped).
 * EventSource reconnects by itself, so a restarted `up` or a network blip heals without a reload.
 */
export class SseHub {
  private readonly clients = new Set<ServerResponse>();
  private batch: FeedEvent[] = [];
  private skipped = 0;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly o: SseOptions;

  constructor(
    private readonly state: LiveState,
    opts: Partial<SseOptions> = {},
    private readonly logger: Logger = silentLogger,
  ) {
    this.o = { ...DEFAULT_SSE_OPTIONS, ...opts };
  }

  start(): void {
    this.timers.push(
      setInterval(
        guard("dashboard snapshot", this.logger, () => this.sendSnapshot()),
        this.o.snapshotMs,
      ),
      setInterval(
        guard("dashboard feed", this.logger, () => this.sendBatch()),
        this.o.batchMs,
      ),
      setInterval(
        guard("dashboard keep-alive", this.logger, () => this.broadcast(": keep-alive\n\n")),
        this.o.keepAliveMs,
      ),
    );
  }

  get size(): number {
    return this.clients.size;
  }

  /** Takes over a response: writes the SSE headers and the hello event, and keeps it until it closes. */
  add(res: ServerResponse): void {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    res.write("retry: 2000\n\n");
    res.write(
      frame("hello", {
        snapshot: this.state.snapshot(),
        history: this.state.chartHistory(),
        events: this.state.recentEvents(),
      }),
    );
    this.clients.add(res);
    const remove = () => this.clients.delete(res);
    res.once("close", remove);
    res.once("error", (err) => {
      remove();
      this.logger.debug({ err }, "event stream closed with an error");
    });
  }

  /** Queues an event for the next batch (nothing is kept while no page is open). */
  queue(e: FeedEvent): void {
    if (this.clients.size === 0) return;
    this.batch.push(e);
    if (this.batch.length > this.o.maxBatch) {
      this.batch.shift();
      this.skipped++;
    }
  }

  private sendSnapshot(): void {
    if (this.clients.size === 0) return;
    this.broadcast(frame("snapshot", this.state.snapshot()));
  }

  private sendBatch(): void {
    if (this.batch.length === 0 && this.skipped === 0) return;
    const payload = frame("orders", { events: this.batch, skipped: this.skipped });
    this.batch = [];
    this.skipped = 0;
    this.broadcast(payload);
  }

  private broadcast(text: string): void {
    for (const res of this.clients) {
      // A page that cannot keep up (write buffer full) misses this frame rather than growing our memory.
      if (res.writableNeedDrain) continue;
      res.write(text);
    }
  }

  /** Ends every stream (so the HTTP server can close) and stops the timers. */
  close(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    for (const res of this.clients) res.end();
    this.clients.clear();
  }
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
