/**
 * Reads the part of nats-server's config language our deploy files use (maps `{}`, arrays `[]`,
 * `key: value`, `key value` and `key { … }`, quoted and bare strings, `$VAR` references, `#` and
 * `//` comments, commas or newlines between items), to compare what two configs grant.
 */
export type ConfValue = string | ConfValue[] | { [key: string]: ConfValue };

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === "#" || (c === "/" && text[i + 1] === "/")) {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (/\s|,/.test(c)) {
      i++;
    } else if ("{}[]".includes(c)) {
      tokens.push(c);
      i++;
    } else if (c === ":" || c === "=") {
      i++;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === "\\" ? 2 : 1;
      tokens.push(`"${text.slice(i + 1, j)}`);
      i = j + 1;
    } else {
      let j = i;
      // A `:` inside a word (`0.0.0.0:4222`) is part of it; one before a space ends the key.
      const ends = (k: number) =>
        /[\s,{}[\]=#]/.test(text[k] as string) || (text[k] === ":" && /\s/.test(text[k + 1] ?? " "));
      while (j < text.length && !ends(j)) j++;
      tokens.push(`"${text.slice(i, j)}`);
      i = j;
    }
  }
  return tokens;
}

/** The config as nested maps, arrays and strings. */
export function parseNatsConf(text: string): { [key: string]: ConfValue } {
  const tokens = tokenize(text);
  let at = 0;
  const value = (): ConfValue => {
    const t = tokens[at++];
    if (t === "{") return map("}");
    if (t === "[") {
      const items: ConfValue[] = [];
      while (tokens[at] !== "]") {
        if (at >= tokens.length) throw new Error("unclosed [");
        items.push(value());
      }
      at++;
      return items;
    }
    if (t === undefined || !t.startsWith('"')) throw new Error(`unexpected ${t} at token ${at}`);
    return t.slice(1);
  };
  const map = (end: string | undefined): { [key: string]: ConfValue } => {
    const out: { [key: string]: ConfValue } = {};
    while (at < tokens.length && tokens[at] !== end) {
      const key = tokens[at++];
      if (key === undefined || !key.startsWith('"')) throw new Error(`expected a key, got ${key}`);
      out[key.slice(1)] = value();
    }
    at++;
    return out;
  };
  return map(undefined);
}

/** What one user may do, as sets, for comparing configs regardless of order. */
export interface UserGrants {
  password: string;
  publishAllow: string[];
  publishDeny: string[];
  subscribeAllow: string[];
}

/** The users of one account of a parsed config, by name. */
export function accountUsers(text: string, account: string): Record<string, UserGrants> {
  const conf = parseNatsConf(text);
  const accounts = conf.accounts as Record<string, Record<string, ConfValue>>;
  const users = accounts[account]?.users as Array<Record<string, ConfValue>>;
  const sorted = (v: ConfValue | undefined) => [...((v as string[] | undefined) ?? [])].sort();
  return Object.fromEntries(
    users.map((u) => {
      const p = (u.permissions ?? {}) as Record<string, Record<string, ConfValue>>;
      return [
        u.user as string,
        {
          password: u.password as string,
          publishAllow: sorted(p.publish?.allow),
          publishDeny: sorted(p.publish?.deny),
          subscribeAllow: sorted(p.subscribe?.allow),
        },
      ];
    }),
  );
}
