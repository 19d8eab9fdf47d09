import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import type { ConnectOptions } from "./connection.js";
import { errorMessage, NatsContextError } from "./errors.js";

/**
 * nats CLI contexts, stored as NATS ADR-21 ("NATS Configuration Contexts") describes them, so a
 * context made with `nats context add` / selected with `nats context select` works here unchanged:
 *
 *   $XDG_CONFIG_HOME (default ~/.config) /nats/context.txt     the selected context's name
 *   $XDG_CONFIG_HOME (default ~/.config) /nats/context/NAME.json  one context
 */

/**
 * The fields of a context file we use. The nats CLI writes every field, empty ones as "", so an
 * empty string means "not set". Unknown fields are ignored: the ADR only adds fields.
 */
const ContextFile = z.looseObject({
  description: z.string().optional(),
  url: z.string().optional(),
  user: z.string().optional(),
  password: z.string().optional(),
  token: z.string().optional(),
  creds: z.string().optional(),
  nkey: z.string().optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
  ca: z.string().optional(),
  inbox_prefix: z.string().optional(),
});

/**
 * Fields that change how or where a client connects, which orderflow does not implement. Ignoring
 * one would connect somewhere or as someone other than the context says, so a set one is an error.
 */
const UNSUPPORTED_FIELDS = [
  "nsc",
  "user_jwt",
  "jetstream_domain",
  "jetstream_api_prefix",
  "socks_proxy",
  "tls_first",
  "windows_cert_store",
  "windows_cert_match_by",
  "windows_cert_match",
  "windows_ca_certs_match",
] as const;

/**
 * What a context supplies: the connection's own fields, every one optional, with `servers` as the
 * context's comma-separated `url`. File paths have `~/` expanded.
 */
export type NatsContextSettings = Partial<
  Pick<
    ConnectOptions,
    "user" | "password" | "token" | "creds" | "nkey" | "tlsCert" | "tlsKey" | "tlsCa" | "inboxPrefix"
  >
> & { servers?: string };

export interface NatsContext {
  name: string;
  /** The context's JSON file. */
  file: string;
  /** How it was chosen: `--context`, `NATS_CONTEXT`, or the selection in context.txt. */
  chosenBy: "flag" | "env" | "selected";
  description?: string;
  settings: NatsContextSettings;
}

/** `$XDG_CONFIG_HOME/nats`, else `~/.config/nats`. */
export function natsConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  const parent = env.XDG_CONFIG_HOME ? env.XDG_CONFIG_HOME : join(homedir(), ".config");
  return join(parent, "nats");
}

export function contextFile(name: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(natsConfigDir(env), "context", `${name}.json`);
}

/**
 * The context to use: `name` (from `--context`, with `chosenBy` "flag", or `NATS_CONTEXT`), else the
 * one selected in context.txt, else none. A named context that is missing or unreadable is an error
 * naming its file; no selection at all is not.
 */
export function loadNatsContext(
  name: string | undefined,
  chosenBy: "flag" | "env",
  env: NodeJS.ProcessEnv = process.env,
): NatsContext | undefined {
  if (name) return readContext(name, chosenBy, env);
  const selected = selectedContextName(env);
  return selected ? readContext(selected, "selected", env) : undefined;
}

/** The name in context.txt, or undefined when there is none (as the nats CLI treats it). */
export function selectedContextName(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = join(natsConfigDir(env), "context.txt");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new NatsContextError(file, `cannot read the selected nats context ${file}: ${errorMessage(err)}`, {
      hint: "fix its permissions, or select one with `nats context select NAME`",
      cause: err,
    });
  }
  const name = text.trim();
  return name === "" ? undefined : name;
}

const CHOSEN_BY: Readonly<Record<NatsContext["chosenBy"], string>> = {
  flag: "--context",
  env: "NATS_CONTEXT",
  selected: "selected in context.txt",
};

function readContext(name: string, chosenBy: NatsContext["chosenBy"], env: NodeJS.ProcessEnv): NatsContext {
  const how = CHOSEN_BY[chosenBy];
  // As the nats CLI: a name, never a path, so a context cannot point outside the context folder.
  if (name.includes("/") || name.includes("\\") || name.includes("..")) {
    throw new NatsContextError(name, `bad nats context name "${name}" (${how})`, {
      hint: "give a context's name, as `nats context ls` lists them, not a path",
    });
  }
  const file = contextFile(name, env);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
    throw new NatsContextError(
      file,
      missing
        ? `nats context "${name}" (${how}) not found: no file ${file}`
        : `cannot read nats context "${name}" (${how}) at ${file}: ${errorMessage(err)}`,
      {
        hint: missing
          ? `create it with \`nats context add ${name} --server nats://host:4222\`, or choose another with --context / NATS_CONTEXT (\`nats context ls\` lists them)`
          : "fix the file's permissions, or choose another context with --context / NATS_CONTEXT",
        cause: err,
      },
    );
  }
  const bad = (detail: string, cause?: unknown) =>
    new NatsContextError(file, `nats context "${name}" (${how}) at ${file} is not valid: ${detail}`, {
      hint: `fix the file (\`nats context edit ${name}\`) or choose another context with --context / NATS_CONTEXT`,
      cause,
    });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw bad(errorMessage(err), err);
  }
  const parsed = ContextFile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw bad(`${issue?.path.join(".") || "the file"}: ${issue?.message ?? "not a context"}`);
  }
  const raw = parsed.data as Record<string, unknown>;
  const unsupported = UNSUPPORTED_FIELDS.filter(
    (f) => raw[f] !== undefined && raw[f] !== "" && raw[f] !== false,
  );
  if (unsupported.length > 0) {
    throw new NatsContextError(
      file,
      `nats context "${name}" (${how}) at ${file} sets ${unsupported.join(", ")}, which orderflow does not support`,
      { hint: "use a context without it, or pass --server and the credential flags instead" },
    );
  }
  const c = parsed.data;
  const set = (v: string | undefined) => (v === undefined || v.trim() === "" ? undefined : v);
  const path = (v: string | undefined) => {
    const p = set(v);
    return p?.startsWith("~/") ? join(homedir(), p.slice(2)) : p;
  };
  return {
    name,
    file,
    chosenBy,
    description: set(c.description),
    settings: {
      servers: set(c.url),
      user: set(c.user),
      password: set(c.password),
      token: set(c.token),
      creds: path(c.creds),
      nkey: path(c.nkey),
      tlsCert: path(c.cert),
      tlsKey: path(c.key),
      tlsCa: path(c.ca),
      inboxPrefix: set(c.inbox_prefix),
    },
  };
}
