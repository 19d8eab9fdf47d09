/**
 * Least privilege for a declared pipeline: a nats-server user per stage, allowed exactly what
 * `orderflow worker <stage>` does, beside the admin, intake and monitor users, as
 * deploy/nats-server.conf grants them for the seed's two stages (docs/reliability.md has the table).
 * Pure: the users as data, and the server config that declares them.
 */
import { UsageError } from "../common/errors.js";
import { stagesOf, subjectOf, type TopologyOptions } from "./spec.js";

/** One user of the generated config. */
export interface PipelineUser {
  /** `admin`, `intake`, `monitor`, or a stage's name. */
  readonly user: string;
  /** The environment variable nats-server reads the password from: `ORDERFLOW_<USER>_PASSWORD`. */
  readonly passwordVar: string;
  /** What the user does, one line (a comment in the config). */
  readonly role: string;
  /** Undefined: everything (admin). */
  readonly permissions?: {
    readonly publish: { readonly allow: readonly string[]; readonly deny?: readonly string[] };
    readonly subscribe: { readonly allow: readonly string[] };
  };
}

/** The subjects of the order index, which lives above this layer (orders/lookup-options.ts). */
export interface IndexSubjects {
  /** Lookups are asked here (`orderflow.index.lookup`). */
  lookupSubject: string;
  /** The indexers' queue group on it (`orderflow-indexer`). */
  queueGroup: string;
}

/** The account the users live in: JetStream is enabled for it and no other. */
export const PIPELINE_ACCOUNT = "ORDERFLOW";

/** Users the pipeline keeps for itself; a stage may not share a name (and so a user) with them. */
export const RESERVED_USERS: readonly string[] = ["admin", "intake", "monitor"];

/** The reply-inbox prefix a least-privilege user may subscribe below (`--inbox-prefix`). */
export function userInboxPrefix(user: string): string {
  return `_INBOX_${user}`;
}

/**
 * `ORDERFLOW_PAYER_PASSWORD`: nats-server reads `$NAME` references of letters, digits and `_`,
 * so a stage's `-` becomes `_`.
 */
export function passwordVarOf(user: string): string {
  return `ORDERFLOW_${user.toUpperCase().replaceAll("-", "_")}_PASSWORD`;
}

/** Everything `orderflow worker <stage>` publishes and subscribes to, and nothing more. */
function stageUser(
  t: TopologyOptions,
  stage: ReturnType<typeof stagesOf>[number],
  index: IndexSubjects,
): PipelineUser {
  const s = t.stream;
  return {
    user: stage.name,
    passwordVar: passwordVarOf(stage.name),
    role: `pulls from consumer ${stage.consumer}, publishes ${subjectOf(t, stage.output)} (and dead letters to ${subjectOf(t, "failed")})`,
    permissions: {
      publish: {
        allow: [
          // read-only: the worker checks the API (account info), the stream and its consumer at start
          "$JS.API.INFO",
          `$JS.API.STREAM.INFO.${s}`,
          `$JS.API.CONSUMER.INFO.${s}.${stage.consumer}`,
          `$JS.API.CONSUMER.MSG.NEXT.${s}.${stage.consumer}`,
          // ack, nak, term and in-progress for messages of its own consumer only
          `$JS.ACK.${s}.${stage.consumer}.>`,
          subjectOf(t, stage.output),
          subjectOf(t, "failed"),
          // a redelivery past the duplicate window asks the order index
          index.lookupSubject,
        ],
      },
      subscribe: { allow: [`${userInboxPrefix(stage.name)}.>`] },
    },
  };
}

/**
 * Why the stages cannot each have a user of their own, one line; undefined when they can: a stage
 * named as a reserved user would share its permissions, and two stage names that differ only by
 * `-` and `_` would share a password variable.
 */
export function pipelineUsersProblem(t: TopologyOptions): string | undefined {
  const vars = new Map<string, string>();
  for (const stage of stagesOf(t)) {
    if (RESERVED_USERS.includes(stage.name)) {
      return `stage "${stage.name}" would share the user "${stage.name}" of the ${stage.name} role; rename the stage`;
    }
    const v = passwordVarOf(stage.name);
    const other = vars.get(v);
    if (other !== undefined) {
      return `stages "${other}" and "${stage.name}" would share the password variable ${v}; rename one`;
    }
    vars.set(v, stage.name);
  }
  return undefined;
}

/** The users of a pipeline: admin, intake, one per stage in order, monitor. */
export function pipelineUsers(t: TopologyOptions, index: IndexSubjects): PipelineUser[] {
  const problem = pipelineUsersProblem(t);
  if (problem) throw new UsageError(problem, { hint: "each stage runs as a user of its own name" });
  const s = t.stream;
  const stages = stagesOf(t);
  const pipelineConsumers = [...stages.map((x) => x.consumer), t.monitorConsumer];
  return [
    {
      user: "admin",
      passwordVar: passwordVarOf("admin"),
      role: "provisioning: `orderflow setup`, stream and consumer changes. Everything.",
    },
    {
      user: "intake",
      passwordVar: passwordVarOf("intake"),
      role: `publishes new orders to ${subjectOf(t, stages[0]?.input ?? "received")}, nothing else`,
      permissions: {
        publish: {
          allow: [
            subjectOf(t, stages[0]?.input ?? "received"),
            // read-only: `orderflow pub` checks that the stream exists and takes the subject first
            "$JS.API.INFO",
            `$JS.API.STREAM.INFO.${s}`,
          ],
        },
        // A JetStream publish is a request: the PubAck comes back to the publisher's inbox.
        subscribe: { allow: [`${userInboxPrefix("intake")}.>`] },
      },
    },
    ...stages.map((stage) => stageUser(t, stage, index)),
    {
      user: "monitor",
      passwordVar: passwordVarOf("monitor"),
      role: `read-only: the ${t.monitorConsumer} push subject, stream/consumer info, message lookups, \`orderflow order\`, hosting \`orderflow indexer\``,
      permissions: {
        publish: {
          allow: [
            "$JS.API.INFO",
            `$JS.API.STREAM.INFO.${s}`,
            `$JS.API.CONSUMER.INFO.${s}.*`,
            // look up a stored order by sequence or by subject
            `$JS.API.STREAM.MSG.GET.${s}`,
            `$JS.API.DIRECT.GET.${s}`,
            `$JS.API.DIRECT.GET.${s}.>`,
            // read the stream in order (the indexer, the order lookup's scan): an ordered push
            // consumer created by name, answered for flow control, deleted when done
            `$JS.API.CONSUMER.CREATE.${s}.*`,
            `$JS.FC.${s}.*.*`,
            `$JS.API.CONSUMER.DELETE.${s}.*`,
            index.lookupSubject,
            // answer lookups when hosting the indexer: other monitors, every stage's late-redelivery
            // check, and admin (default inbox)
            `${userInboxPrefix("monitor")}.>`,
            ...stages.map((x) => `${userInboxPrefix(x.name)}.>`),
            "_INBOX.>",
          ],
          // Deny wins over allow. On 2.9 a create on an existing consumer silently updates it:
          // monitor must never create, update or delete the pipeline's consumers.
          deny: [
            ...pipelineConsumers.map((c) => `$JS.API.CONSUMER.CREATE.${s}.${c}`),
            ...pipelineConsumers.map((c) => `$JS.API.CONSUMER.DELETE.${s}.${c}`),
          ],
        },
        subscribe: {
          allow: [
            t.monitorSubject,
            `${userInboxPrefix("monitor")}.>`,
            // hosting the indexer: lookups, only in the indexers' queue group
            `${index.lookupSubject} ${index.queueGroup}`,
          ],
        },
      },
    },
  ];
}

const quoted = (subject: string): string => JSON.stringify(subject);

function list(name: string, subjects: readonly string[], indent: string): string[] {
  return [`${indent}${name}: [`, ...subjects.map((x) => `${indent}  ${quoted(x)}`), `${indent}]`];
}

function userBlock(u: PipelineUser): string[] {
  const lines = [`      # ${u.user}: ${u.role}`];
  if (!u.permissions) {
    lines.push(`      { user: ${quoted(u.user)}, password: $${u.passwordVar} }`);
    return lines;
  }
  const p = u.permissions;
  lines.push(
    "      {",
    `        user: ${quoted(u.user)}`,
    `        password: $${u.passwordVar}`,
    "        permissions: {",
    "          publish: {",
    ...list("allow", p.publish.allow, "            "),
    ...(p.publish.deny ? list("deny", p.publish.deny, "            ") : []),
    "          }",
    "          subscribe: {",
    ...list("allow", p.subscribe.allow, "            "),
    "          }",
    "        }",
    "      }",
  );
  return lines;
}

/**
 * A whole nats-server config for the pipeline (`file`: the pipeline file's name; undefined: the
 * seed's), shaped as deploy/nats-server.conf (listen 4222,
 * monitoring 8222, JetStream, the users in one account); the store dir is given with `-sd`.
 */
export function pipelineServerConfig(t: TopologyOptions, index: IndexSubjects, file?: string): string {
  const source = file ?? "the seed's pipeline";
  const config = file ? ` --config ${file}` : "";
  const users = pipelineUsers(t, index);
  const stageUsers = users.filter((u) => !RESERVED_USERS.includes(u.user));
  const lines = [
    `# orderflow: a least-privilege nats-server configuration for ${source}, generated by \`orderflow auth\`.`,
    "#",
    "# Run it once every password is in the environment:",
    "#",
    `#   export ${users.map((u) => `${u.passwordVar}=…`).join(" ")}`,
    "#   nats-server -c nats-server.conf -sd /data/jetstream",
    "#",
    "# A missing variable stops the server at start, so a forgotten password can never become an empty",
    "# one. Every user but admin may subscribe only below its own reply-inbox prefix: run each stage as",
    "#",
    ...stageUsers.map(
      (u) =>
        `#   orderflow${config} worker ${u.user} -s nats://${u.user}:$${u.passwordVar}@host:4222 --inbox-prefix ${userInboxPrefix(u.user)}`,
    ),
    "#",
    "# (intake and monitor with --inbox-prefix _INBOX_intake and _INBOX_monitor). There is no",
    "# `no_auth_user`: a connection without credentials is refused.",
    "",
    "listen: 0.0.0.0:4222",
    "# Monitoring (/varz, /jsz, /healthz). Keep 8222 off the public network: it needs no password.",
    "http: 0.0.0.0:8222",
    "",
    "jetstream {",
    "  max_file_store: 10G",
    "  max_memory_store: 256M",
    "}",
    "",
    "accounts {",
    `  ${PIPELINE_ACCOUNT} {`,
    "    jetstream: enabled",
    "    users: [",
    ...users.flatMap((u, i) => (i === 0 ? userBlock(u) : ["", ...userBlock(u)])),
    "    ]",
    "  }",
    "}",
  ];
  return `${lines.join("\n")}\n`;
}
