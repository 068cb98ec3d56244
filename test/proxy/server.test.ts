// Hostile input at the socket: a clean 4xx (or a closed connection), and the server keeps serving.
import { connect } from "node:tls";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.js";
import { type ProxyServer, startProxyServer } from "../../src/proxy/server.js";
import { generateServingCert, type ServingCert } from "../../src/proxy/tls.js";

let server: ProxyServer;
let cert: ServingCert;

beforeAll(async () => {
  cert = generateServingCert(["localhost", "127.0.0.1"], Date.now());
  server = await startProxyServer({
    port: 0,
    host: "127.0.0.1",
    cert,
    clock: systemClock,
    logger: pino({ level: "silent" }),
    headersTimeoutMs: 500,
    requestTimeoutMs: 2_000,
    handler: async (ex) => {
      if (ex.upgrade) {
        ex.upgrade.socket.end("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nup");
        return;
      }
      ex.response?.writeHead(200, { "content-type": "text/plain" });
      ex.response?.end("ok");
    },
  });
});

afterAll(async () => {
  await server.close(100);
});

/** Sends raw bytes over TLS (HTTP/1.1); resolves with what came back when the server closes or after `waitMs`. */
function raw(bytes: string | Buffer, waitMs = 1_500): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect({
      port: server.port,
      host: "127.0.0.1",
      ca: cert.ca,
      servername: "localhost",
      ALPNProtocols: ["http/1.1"],
    });
    let text = "";
    let closed = false;
    socket.on("data", (d: Buffer) => {
      text += d.toString();
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      closed = true;
      resolve({ text, closed });
    });
    socket.on("secureConnect", () => socket.write(bytes));
    setTimeout(() => {
      socket.destroy();
      resolve({ text, closed });
    }, waitMs);
  });
}

describe("proxy server under hostile input", () => {
  it("answers 431 to an oversized head", async () => {
    const { text } = await raw(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(64 * 1024)}\r\n\r\n`);
    expect(text).toMatch(/^HTTP\/1\.1 431/);
  });

  it("answers 400 with a Status to a malformed request line", async () => {
    const { text } = await raw("GARBAGE\r\n\r\n");
    expect(text).toMatch(/^HTTP\/1\.1 400/);
    expect(text).toContain('"kind":"Status"');
  });

  it("drops a slowloris client whose head never completes", async () => {
    const started = Date.now();
    const { text, closed } = await raw("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ", 5_000);
    expect(closed).toBe(true);
    expect(Date.now() - started).toBeLessThan(4_500);
    expect(text === "" || /^HTTP\/1\.1 408/.test(text)).toBe(true);
  });

  it("refuses an upgrade that is neither GET nor POST with a 400 Status", async () => {
    const { text } = await raw(
      "PUT /x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
    expect(text).toMatch(/^HTTP\/1\.1 400/);
    expect(text).toContain("an upgrade must be GET (WebSocket) or POST (SPDY)");
  });

  it("still serves after all of that", async () => {
    const { text } = await raw("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(text).toMatch(/^HTTP\/1\.1 200/);
  });
});
