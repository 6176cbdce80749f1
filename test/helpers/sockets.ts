import { execFileSync } from "node:child_process";
import type { Socket } from "node:net";

/** Resolves once `n` full responses (head and Content-Length body) have arrived on `socket`. */
export function responses(socket: Socket, n: number): Promise<string[]> {
  return new Promise((resolve) => {
    let buffered = "";
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString("latin1");
      const out: string[] = [];
      let rest = buffered;
      while (out.length < n) {
        const end = rest.indexOf("\r\n\r\n");
        const length = /content-length: (\d+)/i.exec(rest.slice(0, end));
        if (end < 0 || !length || rest.length < end + 4 + Number(length[1])) return;
        out.push(rest.slice(0, end + 4 + Number(length[1])));
        rest = rest.slice(end + 4 + Number(length[1]));
      }
      socket.off("data", onData);
      resolve(out);
    };
    socket.on("data", onData);
  });
}

/** The JSON body of one raw HTTP response. Tests read arbitrary fields of Vault-shaped JSON. */
export const bodyOf = (response: string): Record<string, any> => JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4));

/** The path of a program on PATH, or "" when it is not installed. */
export function which(program: string): string {
  try {
    return execFileSync("which", [program], { encoding: "utf8" }).trim();
  } catch {
    return "";
  }
}
