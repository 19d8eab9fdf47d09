import { type Msg, type NatsConnection, PermissionViolationError } from "@nats-io/nats-core";
import { errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { type IndexLookupReply, IndexLookupRequest, isInboxReply } from "./index-protocol.js";

/**
 * Answers one lookup, only to an inbox (see isInboxReply): the request is checked here, the
 * answer comes from `reply` (the indexer's view of its store).
 */
export async function answerLookup(
  msg: Msg,
  logger: Logger,
  reply: (request: IndexLookupRequest) => Promise<IndexLookupReply>,
): Promise<void> {
  if (!msg.reply) {
    logger.warn({ subject: msg.subject }, "order index lookup had no reply subject");
    return;
  }
  if (!isInboxReply(msg.reply)) {
    logger.warn(
      { subject: msg.subject, reply: msg.reply },
      "order index lookup refused: its reply subject is not an _INBOX inbox",
    );
    return;
  }
  let request: IndexLookupRequest;
  try {
    request = IndexLookupRequest.parse(msg.json());
  } catch (err) {
    msg.respond(JSON.stringify({ error: `bad lookup request: ${errorMessage(err)}` }));
    return;
  }
  msg.respond(JSON.stringify(await reply(request)));
}

/**
 * An answer is a plain publish to the asker's inbox: a user that may not publish there (the
 * `monitor` user answering an asker whose inbox prefix it is not allowed) is refused by the server
 * asynchronously, and only the connection status tells.
 */
export function watchRefusedAnswers(nc: NatsConnection, logger: Logger, stopping: () => boolean): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (stopping()) break;
      if (
        s.type === "error" &&
        s.error instanceof PermissionViolationError &&
        s.error.operation === "publish" &&
        isInboxReply(s.error.subject)
      ) {
        logger.warn(
          { reply: s.error.subject },
          "could not answer an order lookup: this user may not publish to the asker's inbox (see docs/reliability.md, monitor)",
        );
      }
    }
  })().catch((err: unknown) => logger.error({ err }, "order index connection watcher failed"));
}
