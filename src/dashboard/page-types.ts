import type { ReplaySummary } from "../orders/replay.js";
import type { TimelineJson } from "../orders/timeline-text.js";
import type { DeadLetterListing } from "./dead-letter-actions.js";
import type { DashboardSnapshot, FeedEvent } from "./live-state.js";
import type { ChartPoint } from "./throughput-history.js";

/**
 * What the page (public/app.js) receives, as types: app.js is plain browser JavaScript checked
 * against these with `// @ts-check` and JSDoc (tsconfig.page.json, part of `npm run lint`), so a
 * field renamed on the server fails lint instead of showing "undefined" on the page. Types only:
 * nothing here runs.
 */

/** What a value becomes through JSON: dates are ISO strings, functions drop out. */
export type Jsonified<T> = T extends Date
  ? string
  : T extends (...args: never[]) => unknown
    ? never
    : T extends ReadonlyArray<infer U>
      ? Jsonified<U>[]
      : T extends object
        ? { [K in keyof T as T[K] extends (...args: never[]) => unknown ? never : K]: Jsonified<T[K]> }
        : T;

/** The `snapshot` event, and the snapshot in `hello`. */
export type PageSnapshot = Jsonified<DashboardSnapshot>;

/** The `hello` event: everything, once, when the stream opens. */
export interface HelloFrame {
  snapshot: PageSnapshot;
  history: ChartPoint[];
  events: Jsonified<FeedEvent>[];
}

/** An `orders` event: new feed events since the last one, and how many were left out. */
export interface OrdersFrame {
  events: Jsonified<FeedEvent>[];
  skipped: number;
}

export type PageFeedEvent = Jsonified<FeedEvent>;
export type PageChartPoint = ChartPoint;

/** GET /api/order?no=… */
export type PageLookup = Jsonified<TimelineJson> & { text: string | null };

/** GET /api/dead-letters */
export type PageDeadLetters = Jsonified<DeadLetterListing>;
/** GET /api/dead-letters/:seq, and one row of the listing. */
export type PageDeadLetter = PageDeadLetters["rows"][number];
/** POST /api/dead-letters/replay */
export type PageReplaySummary = Jsonified<ReplaySummary>;

/** Any API error body. */
export interface PageError {
  error?: string;
}
