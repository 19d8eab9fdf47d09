import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createAccount,
  createOperator,
  createUser,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
  type KeyPair,
  type OperatorLimits,
} from "@nats-io/jwt";
import { onTestFinished } from "vitest";
import { type NatsServer, startServer } from "./nats-server.js";

/**
 * Everything unlimited. A v2 account JWT without JetStream limits has JetStream disabled on 2.9, and
 * the server reads an absent connection/subscription limit as zero, so each one is spelled out.
 */
const UNLIMITED_ACCOUNT: OperatorLimits = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
  mem_storage: -1,
  disk_storage: -1,
  streams: -1,
  consumer: -1,
};

export interface JwtServer {
  server: NatsServer;
  /** A user of the preloaded account: may connect and use JetStream. */
  userCreds: string;
  /** A user of the same account whose JWT the account has revoked. */
  revokedCreds: string;
  /** A user signed by an account the server has never been told about. */
  strangerCreds: string;
  /** A dir for more test files, removed at test end. */
  dir: string;
}

/** Writes `<dir>/<name>.creds` for a new user signed by `account`. */
async function writeCreds(
  dir: string,
  name: string,
  account: KeyPair,
): Promise<{ path: string; publicKey: string }> {
  const user = createUser();
  const path = join(dir, `${name}.creds`);
  await writeFile(path, fmtCreds(await encodeUser(name, user, account), user), { mode: 0o600 });
  return { path, publicKey: user.getPublicKey() };
}

/**
 * A nats-server in operator (decentralised JWT) mode with a memory resolver: one operator, one
 * preloaded account with JetStream, and `.creds` files for a good, a revoked and a stranger's user.
 */
export async function startJwtServer(): Promise<JwtServer> {
  const dir = await mkdtemp(join(tmpdir(), "orderflow-jwt-"));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));

  const operator = createOperator();
  const account = createAccount();
  const user = await writeCreds(dir, "orders", account);
  const revoked = await writeCreds(dir, "revoked", account);
  // Revocation covers JWTs issued at or before this second, so the revoked user's JWT (issued above) is out.
  const revokedAt = Math.floor(Date.now() / 1000) + 1;
  const accountJwt = await encodeAccount(
    "ORDERS",
    account,
    { limits: UNLIMITED_ACCOUNT, revocations: { [revoked.publicKey]: revokedAt } },
    { signer: operator },
  );
  const stranger = await writeCreds(dir, "stranger", createAccount());
  // JetStream on 2.9 will not start in operator mode without a system account for its internal subscriptions.
  const system = createAccount();
  const systemJwt = await encodeAccount("SYS", system, {}, { signer: operator });

  const operatorJwtFile = join(dir, "operator.jwt");
  await writeFile(
    operatorJwtFile,
    await encodeOperator("orderflow-test", operator, { system_account: system.getPublicKey() }),
  );
  const server = await startServer({
    extraConfig: [
      `operator: "${operatorJwtFile}"`,
      `system_account: "${system.getPublicKey()}"`,
      "resolver: MEMORY",
      "resolver_preload: {",
      `  ${account.getPublicKey()}: "${accountJwt}"`,
      `  ${system.getPublicKey()}: "${systemJwt}"`,
      "}",
    ].join("\n"),
  });
  return { server, userCreds: user.path, revokedCreds: revoked.path, strangerCreds: stranger.path, dir };
}
