// Preloaded with `node --import`: records every @opentelemetry/* module a process imports, to the
// file named in ORDERFLOW_TEST_IMPORT_LOG, so a test can tell that an untraced process loaded none.
import { register } from "node:module";

register(new URL("./import-tracker-hooks.mjs", import.meta.url), {
  data: { log: process.env.ORDERFLOW_TEST_IMPORT_LOG },
});
