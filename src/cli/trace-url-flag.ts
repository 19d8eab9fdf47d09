import { Option } from "commander";
import { checkTraceUrlTemplate } from "../common/trace-context.js";
import type { TraceLinkOptions } from "../orders/lookup-options.js";
import type { OptionTable } from "./option-table.js";

/** `--trace-url`, the link from an order's timeline to its trace (`order` and `up`; fresh Options per command). */
export function traceUrlOptionTable(): Required<OptionTable<TraceLinkOptions>> {
  return {
    traceUrl: new Option(
      "--trace-url <template>",
      "link each trace id to your tracing UI: a URL with {traceId}, e.g. http://localhost:16686/trace/{traceId}",
    )
      .argParser((v: string) => checkTraceUrlTemplate(v))
      .env("ORDERFLOW_TRACE_URL"),
  };
}
