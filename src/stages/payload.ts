import { InvalidOrderError } from "../common/errors.js";

/**
 * The order-number grammar and the stage payloads, as pure functions on bytes.
 *
 * An order number is 1 to {@link ORDER_NO_MAX_BYTES} bytes of UTF-8 text with no control characters
 * (U+0000–U+001F, U+007F–U+009F) and no comma. The comma is reserved because the stage payloads are
 * `<orderNo>,processed` and `<orderNo>,completed` and the dispatcher takes the text before the first
 * comma: two received orders `a,b` and `a,c` would both complete as `a,completed`, and the second
 * completion would be dropped by the server's dedupe, losing an order.
 */
export const ORDER_NO_MAX_BYTES = 128;

export const InvalidReason = {
  Empty: "empty",
  NotUtf8: "not-utf8",
  ControlChar: "control-char",
  Comma: "comma",
  TooLong: "too-long",
  BadForm: "bad-form",
} as const;
export type InvalidReason = (typeof InvalidReason)[keyof typeof InvalidReason];

const COMMA = 0x2c;
// ignoreBOM: by default a decoder drops a leading BOM, and "\uFEFF42" would become order "42".
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/**
 * Validates an order number given as bytes and returns it as a string. The ASCII fast path decodes
 * without a TextDecoder; anything else goes through a fatal UTF-8 decode.
 */
export function parseOrderNo(data: Uint8Array): string {
  const n = data.length;
  if (n === 0) throw new InvalidOrderError(InvalidReason.Empty, "empty order number");
  if (n > ORDER_NO_MAX_BYTES) {
    throw new InvalidOrderError(
      InvalidReason.TooLong,
      `order number is ${n} bytes, longer than the limit of ${ORDER_NO_MAX_BYTES}`,
    );
  }
  let ascii = true;
  for (let i = 0; i < n; i++) {
    const b = data[i] as number;
    if (b < 0x20 || b === 0x7f) throw controlChar(i);
    if (b === COMMA)
      throw new InvalidOrderError(InvalidReason.Comma, `order number contains a comma at byte ${i}`);
    if (b >= 0x80) ascii = false;
  }
  if (ascii) return String.fromCharCode.apply(null, data as unknown as number[]);
  let text: string;
  try {
    text = utf8.decode(data);
  } catch (err) {
    throw new InvalidOrderError(InvalidReason.NotUtf8, "order number is not valid UTF-8", { cause: err });
  }
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80 && c <= 0x9f) throw controlChar(i);
  }
  return text;
}

function controlChar(at: number): InvalidOrderError {
  return new InvalidOrderError(
    InvalidReason.ControlChar,
    `order number contains a control character at ${at}`,
  );
}

/** `<bytes><suffix>` without going through strings. */
export function appendSuffix(data: Uint8Array, suffix: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length + suffix.length);
  out.set(data, 0);
  out.set(suffix, data.length);
  return out;
}

/** `,processed`, `,completed` as bytes. */
export function stageSuffix(stage: string): Uint8Array {
  return encoder.encode(`,${stage}`);
}

/**
 * The order number of a `<orderNo>,<stage>` payload, validated; anything else (no comma, another
 * stage, an invalid order number) is an InvalidOrderError with reason `bad-form` or the grammar's.
 */
export function orderNoOf(data: Uint8Array, expectedSuffix: Uint8Array): string {
  const cut = data.length - expectedSuffix.length;
  if (cut <= 0 || data.indexOf(COMMA) !== cut || !endsWith(data, expectedSuffix)) {
    throw new InvalidOrderError(
      InvalidReason.BadForm,
      `payload is not of the form <orderNo>${new TextDecoder().decode(expectedSuffix)}`,
    );
  }
  return parseOrderNo(data.subarray(0, cut));
}

function endsWith(data: Uint8Array, suffix: Uint8Array): boolean {
  const off = data.length - suffix.length;
  for (let i = 0; i < suffix.length; i++) if (data[off + i] !== suffix[i]) return false;
  return true;
}

/**
 * Characters escaped in a message id: `%` (the escape itself, so the mapping stays injective) and
 * every character JavaScript counts as white space. The client trims header values when they are
 * set (nats-core `headers.js`) and the server skips blanks before a header value, so an id that
 * starts with a space or a BOM would be stored without it: ` 42` and `\uFEFF42` would share `42`'s
 * id and the server would drop their outputs as duplicates. Escaping them everywhere, not only at
 * the start, keeps the rule simple to state and to decode.
 */
const ID_ESCAPED = /[%\s]/u;
const ID_ESCAPED_ALL = /[%\s]/gu;

function percentEncode(c: string): string {
  let out = "";
  for (const b of encoder.encode(c)) out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  return out;
}

/**
 * An order number as it appears in message ids: unchanged unless it holds `%` or white space,
 * which are percent-encoded (UTF-8 bytes, upper-case hex). Distinct order numbers give distinct
 * keys, and no key has a character a header would lose.
 */
export function orderIdKey(orderNo: string): string {
  return needsEscape(orderNo) ? orderNo.replace(ID_ESCAPED_ALL, percentEncode) : orderNo;
}

/**
 * {@link ID_ESCAPED} as a scan: this runs once per order, and printable ASCII (no space, no `%`) is
 * decided without the regex. Order numbers have no control characters, so only space, `%` and
 * non-ASCII (which holds Unicode's other white space) need a closer look.
 */
function needsEscape(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x25 || c >= 0x7f) return ID_ESCAPED.test(s);
  }
  return false;
}

/**
 * The inverse of {@link orderIdKey}. A key that is not a valid escape (written by a version before
 * the escaping, say `50%off`) is returned as it stands.
 */
export function orderNoOfIdKey(key: string): string {
  if (!key.includes("%")) return key;
  try {
    return decodeURIComponent(key);
  } catch (err) {
    if (err instanceof URIError) return key;
    throw err;
  }
}

/**
 * The deterministic `Nats-Msg-Id` of a stage's output: `<orderNo>:<stage>`, with the order number
 * escaped by {@link orderIdKey} (`42:processed`; ` 42` gives `%2042:processed`).
 */
export function msgIdOf(orderNo: string, stage: string): string {
  return `${orderIdKey(orderNo)}:${stage}`;
}
