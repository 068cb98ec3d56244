// The API clients share one connection pool per kubeconfig: client-node alone builds a new undici pool for
// every request, so each request paid a TLS handshake and left a keep-alive socket behind.
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ApiServerKubeClient } from "../../src/kube/client.js";
import { issue } from "../proxy/pki.js";

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function tlsApiServer() {
  const ca = issue({ cn: "test-ca", ca: true });
  const serving = issue({ cn: "apiserver", hosts: ["127.0.0.1"] }, ca);
  let handshakes = 0;
  let requests = 0;
  const server = createServer({ cert: serving.cert, key: serving.key }, (req, res) => {
    requests++;
    const name = req.url?.split("/").at(-1) ?? "";
    res.setHeader("content-type", "application/json");
    res.end(
      JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name, resourceVersion: "1" } }),
    );
  });
  server.on("secureConnection", () => handshakes++);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [
      {
        name: "c",
        server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
        caData: Buffer.from(ca.cert).toString("base64"),
      },
    ],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return { kubeConfig, counts: () => ({ handshakes, requests }) };
}

describe("API connections", () => {
  it("50 requests, 10 at a time, over TLS reuse connections rather than opening one each", async () => {
    const api = await tlsApiServer();
    const client = new ApiServerKubeClient({ kubeConfig: api.kubeConfig, logger: pino({ level: "silent" }) });
    for (let round = 0; round < 5; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => client.getNamespace(`ns-${round}-${i}`)));
    }
    const { handshakes, requests } = api.counts();
    expect(requests).toBe(50);
    // Without the shared pool: 50, one per request. With it, rounds reuse the first round's connections
    // (a few are replaced when undici or the server closes an idle one between rounds).
    expect(handshakes).toBeLessThanOrEqual(25);
  });
});
