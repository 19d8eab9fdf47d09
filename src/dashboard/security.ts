import { createHmac, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { CONTENT_SECURITY_POLICY, type DashboardSecurityOptions } from "./security-options.js";

export const SESSION_COOKIE = "orderflow_session";

/** What a request may do: everything, look only, or nothing yet. */
export const Access = { Full: "full", ReadOnly: "read-only", None: "none" } as const;
export type Access = (typeof Access)[keyof typeof Access];

/** Reachable without a token: probes, and the page that asks for one. */
const PUBLIC_PATHS = new Set(["/healthz", "/readyz", "/login"]);

/**
 * The cookie carries a value derived from the token, not the token: a leaked cookie (a proxy log)
 * does not hand out the token for scripts, and rotating the token ends every session.
 */
function sessionValue(token: string): string {
  return createHmac("sha256", token).update("orderflow dashboard session v1").digest("base64url");
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookie(req: FastifyRequest, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return undefined;
}

/** `example.com:8080` → `example.com`; `[::1]:80` → `::1`. */
export function hostName(host: string): string {
  if (host.startsWith("[")) return host.slice(1, host.indexOf("]"));
  const colon = host.lastIndexOf(":");
  return (colon >= 0 && host.indexOf(":") === colon ? host.slice(0, colon) : host).toLowerCase();
}

/**
 * DNS rebinding points an attacker's name at this address; the browser then sends that name as
 * Host. IP literals and localhost cannot be rebound, names must be listed.
 */
export function hostAllowed(host: string | undefined, allowed: readonly string[]): boolean {
  if (!host) return false;
  const name = hostName(host);
  if (isIP(name) !== 0 || name === "localhost") return true;
  return allowed.some((a) => hostName(a) === name);
}

export class DashboardGate {
  constructor(private readonly o: DashboardSecurityOptions) {}

  get enabled(): boolean {
    return Boolean(this.o.token || this.o.readonlyToken);
  }

  /** Access from a bearer token or the session cookie. */
  access(req: FastifyRequest): Access {
    if (!this.enabled) return Access.Full;
    const auth = req.headers.authorization ?? "";
    const bearer = auth.toLowerCase().startsWith("bearer ") ? auth.slice(7).trim() : undefined;
    const session = cookie(req, SESSION_COOKIE);
    const matches = (token: string | undefined) =>
      token !== undefined &&
      ((bearer !== undefined && same(bearer, token)) ||
        (session !== undefined && same(session, sessionValue(token))));
    if (matches(this.o.token)) return Access.Full;
    if (matches(this.o.readonlyToken)) return Access.ReadOnly;
    return Access.None;
  }

  /** The cookie for a token typed into the login page, or undefined when it is neither token. */
  login(typed: string): string | undefined {
    const token = [this.o.token, this.o.readonlyToken].find((t) => t !== undefined && same(typed, t));
    if (!token) return undefined;
    return `${SESSION_COOKIE}=${sessionValue(token)}; Path=/; HttpOnly; SameSite=Strict`;
  }

  /** Registers the Host check, the token check and the security headers on every route. */
  install(app: FastifyInstance): void {
    app.addHook("onRequest", async (req, reply) => {
      if (!hostAllowed(req.headers.host, this.o.allowedHosts)) {
        return reply
          .code(421)
          .send({ error: `host "${req.headers.host ?? ""}" is not allowed; add it with --allowed-hosts` });
      }
      const path = req.url.split("?")[0] ?? "";
      if (PUBLIC_PATHS.has(path)) return undefined;
      const access = this.access(req);
      if (access === Access.None) return this.refuse(req, reply);
      const changes = req.method !== "GET" && req.method !== "HEAD";
      if (changes && access !== Access.Full) {
        return reply.code(403).send({ error: "this token is read-only: it cannot publish or replay" });
      }
      // A cookie rides along on requests from other pages; SameSite=Strict stops it, this double-checks.
      const origin = req.headers.origin;
      if (
        changes &&
        origin !== undefined &&
        hostName(new URL(origin).host) !== hostName(req.headers.host ?? "")
      ) {
        return reply.code(403).send({ error: "cross-origin request refused" });
      }
      return undefined;
    });
    app.addHook("onSend", async (_req, reply, payload) => {
      void reply
        .header("content-security-policy", CONTENT_SECURITY_POLICY)
        .header("x-frame-options", "DENY")
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer");
      return payload;
    });
  }

  private refuse(req: FastifyRequest, reply: FastifyReply) {
    // A browser asking for the page gets the login page; scripts and Prometheus get a 401 to act on.
    if (req.method === "GET" && (req.headers.accept ?? "").includes("text/html")) {
      return reply.redirect("/login", 303);
    }
    return reply
      .code(401)
      .header("www-authenticate", 'Bearer realm="orderflow"')
      .send({ error: "authentication required: send Authorization: Bearer <token>, or log in at /login" });
  }
}

/** The login page: a plain form (no script, so the CSP needs no exception). */
export function loginPage(error?: string): string {
  const message = error ? `<p class="error" role="alert">${error}</p>` : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>orderflow: log in</title></head>
<body><main class="login"><h1>orderflow</h1>${message}
<form method="post" action="/login">
<label>Dashboard token <input type="password" name="token" id="token" autocomplete="current-password" required autofocus></label>
<button type="submit" id="login">Log in</button>
</form></main></body></html>`;
}
