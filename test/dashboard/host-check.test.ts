import { describe, expect, it } from "vitest";
import { hostAllowed } from "../../src/dashboard/security.js";

describe("the dashboard's Host check", () => {
  it("lets IP addresses, localhost and listed names in, and nothing else", () => {
    for (const host of ["127.0.0.1:8080", "10.1.2.3", "[::1]:8080", "localhost:8080", "LOCALHOST"]) {
      expect(hostAllowed(host, []), host).toBe(true);
    }
    expect(hostAllowed("orders.example.com:443", ["orders.example.com"])).toBe(true);
    expect(hostAllowed("Orders.Example.com", ["orders.example.com:9000"])).toBe(true);
    for (const host of [
      "attacker.example",
      "orders.example.com.evil.test",
      "localhost.evil.test",
      "",
      undefined,
    ]) {
      expect(hostAllowed(host, ["orders.example.com"]), String(host)).toBe(false);
    }
  });
});
