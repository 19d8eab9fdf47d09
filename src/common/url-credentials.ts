import { UsageError } from "./errors.js";

/** Server URLs with their userinfo taken out, and what it said. */
export interface UrlCredentials {
  /** The URLs without `user:password@` (what the client dials). */
  servers: string[];
  user?: string;
  password?: string;
  /** A userinfo without a colon (`nats://s3cret@host`) is a token, as in the Go client. */
  token?: string;
}

const USERINFO = /^([a-z]+:\/\/)([^@/]*)@(.+)$/i;

/**
 * nats.js dials `nats://processor:secret@host:4222` as it is and never sends the userinfo, so the
 * server sees an anonymous client. The nats CLI and the Go client use it as the credentials; we do
 * the same by taking it out of the URLs here. The client has one set of credentials for all
 * servers, so URLs that disagree are refused rather than half-used.
 */
export function splitUrlCredentials(urls: readonly string[]): UrlCredentials {
  const servers: string[] = [];
  let found: string | undefined;
  for (const url of urls) {
    const m = USERINFO.exec(url);
    if (!m) {
      servers.push(url);
      continue;
    }
    const [, scheme, userinfo, rest] = m as unknown as [string, string, string, string];
    servers.push(`${scheme}${rest}`);
    if (found !== undefined && found !== userinfo) {
      throw new UsageError("the server URLs carry different credentials", {
        hint: "one connection uses one user: put the same user:password in every URL, or use --user/--password",
      });
    }
    found = userinfo;
  }
  if (!found) return { servers };
  const colon = found.indexOf(":");
  if (colon < 0) return { servers, token: decode(found) };
  return { servers, user: decode(found.slice(0, colon)), password: decode(found.slice(colon + 1)) };
}

/**
 * Credentials from the URL and from flags (or NATS_USER/NATS_PASSWORD/NATS_TOKEN) must agree: which
 * one should silently win is a guess we would rather not make for an operator.
 */
export function mergeCredential(
  name: string,
  flag: string | undefined,
  fromUrl: string | undefined,
): string | undefined {
  if (flag !== undefined && fromUrl !== undefined && flag !== fromUrl) {
    throw new UsageError(`--${name} disagrees with the ${name} in the server URL`, {
      hint: `give the ${name} once: in the URL or with --${name} (check NATS_${name.toUpperCase()} too)`,
    });
  }
  return fromUrl ?? flag;
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch (err) {
    throw new UsageError("bad percent-encoding in the credentials of a server URL", {
      hint: "encode special characters of the password as %XX (e.g. @ as %40)",
      cause: err,
    });
  }
}
