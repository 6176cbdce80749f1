import { pino } from "pino";
import type { Logger } from "../../src/core/types.js";
import { buildServer } from "../../src/server/main.js";
import { DEFAULT_CONFIG, type ServerConfig } from "../../src/server/config.js";

export const ROOT_TOKEN = "lks.dev-root-token-for-tests";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "LIST";

export interface TestResponse {
  status: number;
  // Tests read arbitrary fields of Vault-shaped JSON.
  json: Record<string, any>;
  text: string;
  headers: Record<string, string | string[] | number | undefined>;
}

/** A dev-mode server driven by in-process injection (no sockets). */
export async function devServer(overrides: Partial<ServerConfig> = {}, logger: Logger = pino({ level: "silent" })) {
  const cfg: ServerConfig = { ...structuredClone(DEFAULT_CONFIG), storage: { type: "memory" }, ...overrides };
  const server = await buildServer(cfg, { dev: true, devRootToken: ROOT_TOKEN, logger });
  const request = async (
    method: Method,
    path: string,
    opts: { token?: string | null; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
  ): Promise<TestResponse> => {
    const token = opts.token === undefined ? ROOT_TOKEN : opts.token;
    // LIST is sent as Vault's `GET ?list=true`: Node's HTTP parser knows no LIST method.
    const url = path.startsWith("/") ? path : `/v1/${path}`;
    const res = await server.app.inject({
      method: method === "LIST" ? "GET" : method,
      url: method === "LIST" ? `${url}${url.includes("?") ? "&" : "?"}list=true` : url,
      headers: {
        ...(token ? { "x-vault-token": token } : {}),
        ...(opts.body !== undefined || opts.rawBody !== undefined ? { "content-type": "application/json" } : {}),
        ...opts.headers,
      },
      payload: opts.rawBody ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
    });
    let json: Record<string, any> = {};
    try {
      json = res.body ? JSON.parse(res.body) : {};
    } catch {
      json = {};
    }
    return { status: res.statusCode, json, text: res.body, headers: res.headers };
  };
  return { ...server, request };
}

export type DevServer = Awaited<ReturnType<typeof devServer>>;
