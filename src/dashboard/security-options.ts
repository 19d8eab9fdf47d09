/** How the dashboard lets requests in. Defaults: no tokens (open, as on loopback), no extra hosts. */
export interface DashboardSecurityOptions {
  /**
   * Full-access token (`--dashboard-token`, `ORDERFLOW_DASHBOARD_TOKEN`). When set, every route but
   * /healthz, /readyz and /login needs it or the read-only one. Default none.
   */
  token: string | undefined;
  /** Sees everything, may not publish or replay (`ORDERFLOW_DASHBOARD_READONLY_TOKEN`). Default none. */
  readonlyToken: string | undefined;
  /**
   * Host names a request's `Host` header may carry besides IP addresses and `localhost`
   * (`--allowed-hosts`, comma-separated); a name the operator did not list is a DNS-rebinding attempt.
   * Default none.
   */
  allowedHosts: readonly string[];
}

export const DEFAULT_DASHBOARD_SECURITY: Readonly<DashboardSecurityOptions> = Object.freeze({
  token: undefined,
  readonlyToken: undefined,
  allowedHosts: Object.freeze([]) as readonly string[],
});

/** The page's own assets only, never in a frame: the page loads nothing from elsewhere. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "object-src 'none'",
].join("; ");
