import type { FastifyInstance } from "fastify";
import { type DashboardGate, loginPage } from "../security.js";

export interface LoginRoutesOptions {
  gate: DashboardGate;
}

/** `/login`: the form, and the post that trades a valid token for a session cookie. */
export async function loginRoutes(app: FastifyInstance, { gate }: LoginRoutesOptions): Promise<void> {
  // The login form posts urlencoded; nothing else of ours takes it (the API answers it with 415).
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );

  app.get("/login", async (_req, reply) =>
    reply.header("content-type", "text/html; charset=utf-8").send(loginPage()),
  );

  // No body schema: a post without a token is a failed login (401 and the form again), not a 400.
  app.post<{ Body: { token?: unknown } | undefined }>("/login", async (req, reply) => {
    const typed = typeof req.body?.token === "string" ? req.body.token : "";
    const setCookie = gate.enabled ? gate.login(typed) : undefined;
    if (gate.enabled && !setCookie) {
      return reply
        .code(401)
        .header("content-type", "text/html; charset=utf-8")
        .send(loginPage("That token is not valid."));
    }
    if (setCookie) void reply.header("set-cookie", setCookie);
    return reply.redirect("/", 303);
  });
}
