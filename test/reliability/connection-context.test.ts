import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { NatsContextError } from "../../src/common/errors.js";
import { loadNatsContext } from "../../src/common/nats-context.js";
import { runCli } from "../helpers/cli.js";
import { freePorts } from "../helpers/free-port.js";
import { startServer } from "../helpers/nats-server.js";

const USER = "ctx-user";
/**
 * A stream only our servers have: should a context be ignored, the command would reach whatever
 * listens on 127.0.0.1:4222, which must not pass for our server.
 */
const T = ["--stream", "CTXTEST", "--subject-prefix", "CTXTEST"];
const PASSWORD = "ctx-pass-word";

/** Every field, as `nats context add` writes them (unset ones as ""). */
function contextJson(fields: Record<string, string>): string {
  const all = {
    description: "",
    url: "",
    socks_proxy: "",
    token: "",
    user: "",
    password: "",
    creds: "",
    nkey: "",
    cert: "",
    key: "",
    ca: "",
    nsc: "",
    jetstream_domain: "",
    jetstream_api_prefix: "",
    jetstream_event_prefix: "",
    inbox_prefix: "",
    user_jwt: "",
    color_scheme: "",
    tls_first: false,
    ...fields,
  };
  return JSON.stringify(all, null, "  ");
}

/** A fresh config home (as `$XDG_CONFIG_HOME`) with the given contexts and, optionally, a selection. */
async function configHome(contexts: Record<string, string>, selected?: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "orderflow-nats-config-"));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, "nats", "context"), { recursive: true });
  for (const [name, text] of Object.entries(contexts)) {
    await writeFile(join(dir, "nats", "context", `${name}.json`), text);
  }
  if (selected !== undefined) await writeFile(join(dir, "nats", "context.txt"), `${selected}\n`);
  return dir;
}

/** A server that admits only USER/PASSWORD. */
async function passwordServer() {
  return startServer({ extraConfig: `authorization { user: "${USER}", password: "${PASSWORD}" }` });
}

function expectConnected(res: { code: number | null; stderr: string; stdout: string }, what: string) {
  expect(res.stderr, what).toBe("");
  expect(res.code, what).toBe(0);
  expect(res.stdout, what).toContain("Information for Stream CTXTEST");
}

describe("nats CLI contexts (ADR-21)", () => {
  it("--context, NATS_CONTEXT and the selected context supply the servers and the user/password", async () => {
    const server = await passwordServer();
    const ctx = contextJson({ description: "test", url: server.url, user: USER, password: PASSWORD });
    const home = await configHome({ dev: ctx, other: contextJson({ url: "nats://127.0.0.1:1" }) });
    const env = { XDG_CONFIG_HOME: home };
    expect((await runCli(["setup", "--context", "dev", ...T], { env })).code).toBe(0);
    expectConnected(await runCli(["info", "--context", "dev", ...T], { env }), "--context");
    expectConnected(await runCli(["info", ...T], { env: { ...env, NATS_CONTEXT: "dev" } }), "NATS_CONTEXT");
    // --context wins over NATS_CONTEXT, as a flag wins over its variable.
    expectConnected(
      await runCli(["info", "--context", "dev", ...T], { env: { ...env, NATS_CONTEXT: "other" } }),
      "--context over NATS_CONTEXT",
    );

    const selected = await configHome({ dev: ctx }, "dev");
    expectConnected(
      await runCli(["info", ...T], { env: { XDG_CONFIG_HOME: selected } }),
      "selected in context.txt",
    );

    // Without a context the same command has neither the server nor the password.
    const none = await runCli(["info", "-s", server.url, ...T], { env });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^orderflow: cannot connect to NATS .*authorization/i);
  });

  it("without $XDG_CONFIG_HOME the selection and contexts are read from ~/.config/nats", async () => {
    const server = await passwordServer();
    const home = await mkdtemp(join(tmpdir(), "orderflow-home-"));
    onTestFinished(() => rm(home, { recursive: true, force: true }));
    await mkdir(join(home, ".config", "nats", "context"), { recursive: true });
    await writeFile(
      join(home, ".config", "nats", "context", "home.json"),
      contextJson({ url: server.url, user: USER, password: PASSWORD }),
    );
    await writeFile(join(home, ".config", "nats", "context.txt"), "home");
    const env = { HOME: home, XDG_CONFIG_HOME: "" };
    expect((await runCli(["setup", ...T], { env })).code).toBe(0);
    expectConnected(await runCli(["info", ...T], { env }), "~/.config");
  });

  it("flags and NATS_URL/NATS_PASSWORD override the context's fields one by one", async () => {
    const server = await passwordServer();
    const [deadPort] = await freePorts(1);
    // The context names a server nobody listens on, and the right credentials.
    const home = await configHome(
      { dev: contextJson({ url: `nats://127.0.0.1:${deadPort}`, user: USER, password: PASSWORD }) },
      "dev",
    );
    const env = { XDG_CONFIG_HOME: home };
    expect((await runCli(["setup", "-s", server.url, ...T], { env })).code).toBe(0);
    expectConnected(
      await runCli(["info", "-s", server.url, ...T], { env }),
      "--server over the context's url",
    );
    expectConnected(
      await runCli(["info", ...T], { env: { ...env, NATS_URL: server.url } }),
      "NATS_URL over url",
    );
    const unreachable = await runCli(["info", ...T], { env });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain(`nats://127.0.0.1:${deadPort}`);
    // The hint points at the context that named that server, not only at --server / NATS_URL.
    expect(unreachable.stderr).toContain(
      `the url in the nats context ${join(home, "nats", "context", "dev.json")}`,
    );

    // Credentials in an explicit URL replace the context's (they are flags too), without a conflict.
    const host = server.url.replace("nats://", "");
    expectConnected(
      await runCli(["info", "-s", `nats://${USER}:${PASSWORD}@${host}`, ...T], {
        env: {
          XDG_CONFIG_HOME: await configHome(
            { dev: contextJson({ user: "someone", password: "else" }) },
            "dev",
          ),
        },
      }),
      "URL credentials over the context's",
    );

    const flagPassword = await runCli(["info", "-s", server.url, "--password", "wrong", ...T], { env });
    expect(flagPassword.code).toBe(1);
    expect(flagPassword.stderr).toMatch(/authorization/i);
    const envPassword = await runCli(["info", "-s", server.url, ...T], {
      env: { ...env, NATS_PASSWORD: "wrong" },
    });
    expect(envPassword.code).toBe(1);
    expect(envPassword.stderr).toMatch(/authorization/i);
  });

  it("a missing, unreadable or unsupported context is one line naming the file", async () => {
    const home = await configHome(
      { broken: "{ not json", nsc: contextJson({ nsc: "nsc://operator/account/user" }) },
      "gone",
    );
    const file = (name: string) => join(home, "nats", "context", `${name}.json`);
    const cases: Array<[string[], NodeJS.ProcessEnv, string]> = [
      [["info", "--context", "nope"], {}, file("nope")],
      [["info"], { NATS_CONTEXT: "nope" }, file("nope")],
      [["info"], {}, file("gone")],
      [["info", "--context", "broken"], {}, file("broken")],
      [["info", "--context", "nsc"], {}, file("nsc")],
    ];
    for (const [args, extra, named] of cases) {
      const res = await runCli(args, { env: { XDG_CONFIG_HOME: home, ...extra } });
      const what = `${args.join(" ")} ${JSON.stringify(extra)}`;
      expect(res.code, what).toBe(1);
      expect(res.stderr.trim().split("\n"), what).toHaveLength(1);
      expect(res.stderr, what).toMatch(/^orderflow: /);
      expect(res.stderr, what).toContain(named);
    }
    const bad = await runCli(["info", "--context", "../x", ...T], { env: { XDG_CONFIG_HOME: home } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^orderflow: bad nats context name "..\/x"/);
  });

  it("maps every supported field, expands ~/ in file paths and treats empty strings as unset", async () => {
    const home = await configHome({
      full: contextJson({
        url: "nats://a:4222,nats://b:4222",
        token: "t0k",
        user: "u",
        password: "p",
        creds: "~/my.creds",
        nkey: "/keys/user.nk",
        cert: "/tls/client.pem",
        key: "/tls/client-key.pem",
        ca: "/tls/ca.pem",
        inbox_prefix: "_INBOX_u",
      }),
      empty: contextJson({}),
    });
    const env = { XDG_CONFIG_HOME: home };
    expect(loadNatsContext("full", "flag", env)?.settings).toEqual({
      servers: "nats://a:4222,nats://b:4222",
      token: "t0k",
      user: "u",
      password: "p",
      creds: join(homedir(), "my.creds"),
      nkey: "/keys/user.nk",
      tlsCert: "/tls/client.pem",
      tlsKey: "/tls/client-key.pem",
      tlsCa: "/tls/ca.pem",
      inboxPrefix: "_INBOX_u",
    });
    expect(Object.values(loadNatsContext("empty", "env", env)?.settings ?? { x: 1 })).toEqual(
      Array(10).fill(undefined),
    );
    expect(loadNatsContext(undefined, "env", env)).toBeUndefined();
    expect(() => loadNatsContext("missing", "env", env)).toThrow(NatsContextError);
  });
});
