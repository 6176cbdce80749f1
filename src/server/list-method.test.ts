import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ListMethodRewriter } from "./list-method.js";

const head = (method: string, extra = "") =>
  `${method} /v1/secret/metadata/ HTTP/1.1\r\nHost: latchkey\r\nX-Vault-Token: lks.t\r\n${extra}\r\n`;

/** Feeds `chunks` one after the other; returns what the parser would get, and the rewriter. */
function run(chunks: string[]): { out: string; rewriter: ListMethodRewriter } {
  const rewriter = new ListMethodRewriter();
  let out = "";
  for (const chunk of chunks) out += rewriter.feed(Buffer.from(chunk, "latin1")).toString("latin1");
  out += rewriter.flush().toString("latin1");
  return { out, rewriter };
}

/** The stand-in marks of the next `n` BIND requests. */
const marks = (rewriter: ListMethodRewriter, n: number) => Array.from({ length: n }, () => rewriter.takeStandIn());

/** Every way of cutting `text` into reads of one to `size` bytes, drawn at random. */
const cuts = (text: string) =>
  fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, text.length - 1) }), { maxLength: 40 }).map((points) => {
    const sorted = [0, ...points.sort((a, b) => a - b), text.length];
    return sorted.slice(1).map((end, k) => text.slice(sorted[k], end));
  });

describe("ListMethodRewriter", () => {
  it("turns a LIST request line into BIND and remembers that it was a LIST", () => {
    const rewriter = new ListMethodRewriter();
    const out = rewriter.feed(Buffer.from(head("LIST")));
    expect(out.toString()).toBe(head("BIND"));
    expect(rewriter.takeStandIn()).toBe(true);
  });

  it("passes a client's own BIND on as BIND, in order with the LISTs around it", () => {
    const { out, rewriter } = run([head("LIST") + head("BIND") + head("GET") + head("LIST")]);
    expect(out).toBe(head("BIND") + head("BIND") + head("GET") + head("BIND"));
    expect(marks(rewriter, 3)).toEqual([true, false, true]);
  });

  it("holds back at most the first four bytes of a request line until it knows the method", () => {
    const rewriter = new ListMethodRewriter();
    expect(rewriter.feed(Buffer.from("LIS")).toString()).toBe("");
    expect(rewriter.feed(Buffer.from("T /v1/x HTTP/1.1\r\n")).toString()).toBe("BIND /v1/x HTTP/1.1\r\n");
    expect(rewriter.feed(Buffer.from("GE")).toString()).toBe("GE");
    expect(rewriter.feed(Buffer.from("B")).toString()).toBe("B");
    const other = new ListMethodRewriter();
    expect(other.feed(Buffer.from("\r\nBI")).toString()).toBe("\r\n");
    expect(other.flush().toString()).toBe("BI");
  });

  it("never writes into the buffer it was given", () => {
    const chunk = Buffer.from(head("LIST"));
    const copy = Buffer.from(chunk);
    new ListMethodRewriter().feed(chunk);
    expect(chunk.equals(copy)).toBe(true);
  });

  it("does not touch LIST inside a Content-Length body, a chunked body or its trailers", () => {
    const inBody = "LIST /v1/x HTTP/1.1\r\n\r\n";
    const chunked =
      head("POST", "Transfer-Encoding: chunked\r\n") +
      `${inBody.length.toString(16)};note=LIST\r\n${inBody}\r\n0\r\nX-Trailer: LIST\r\n\r\n`;
    const stream = head("PUT", `Content-Length: ${inBody.length}\r\n`) + inBody + chunked + head("LIST");
    const { out, rewriter } = run([stream]);
    expect(out).toBe(stream.slice(0, stream.length - head("LIST").length) + head("BIND"));
    expect(marks(rewriter, 1)).toEqual([true]);
  });

  it.each([
    ["an Upgrade", head("GET", "Upgrade: websocket\r\nConnection: Upgrade\r\n")],
    ["a transfer coding other than chunked", head("POST", "Transfer-Encoding: gzip, chunked\r\n")],
    ["Content-Length and Transfer-Encoding together", head("POST", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n")],
    ["two Content-Lengths", head("POST", "Content-Length: 3\r\nContent-Length: 3\r\n")],
    ["a Content-Length that is no plain number", head("POST", "Content-Length: 3, 3\r\n")],
    ["a bare LF", "GET /v1/sys/health HTTP/1.1\nHost: latchkey\n\n"],
    ["a folded header line", head("GET", "X-A: a\r\n b\r\n")],
    ["CONNECT", "CONNECT latchkey:443 HTTP/1.1\r\nHost: latchkey:443\r\n\r\n"],
    ["a head larger than any llhttp takes", head("GET", `X-Big: ${"a".repeat(70_000)}\r\n`)],
  ])("stops rewriting for the rest of the connection after %s", (_what, odd) => {
    const stream = head("LIST") + odd + head("LIST");
    const { out, rewriter } = run([stream]);
    expect(out).toBe(head("BIND") + odd + head("LIST"));
    // A later BIND is taken for the client's own.
    expect(marks(rewriter, 2)).toEqual([true, false]);
  });

  it("rewrites exactly the LIST request lines of any pipelined stream, however TCP cuts it", () => {
    const bodyText = fc
      .array(fc.constantFrom("LIST ", "BIND ", "\r\n", "\r\n\r\n", "LIST /v1/x HTTP/1.1\r\n\r\n", "0\r\n\r\n", "a"), { maxLength: 6 })
      .map((parts) => parts.join(""));
    const request = fc.record({
      lead: fc.constantFrom("", "\r\n", "\r\n\r\n"),
      method: fc.constantFrom("GET", "LIST", "BIND", "POST", "PUT", "LOCK", "LINK", "DELETE"),
      framing: fc.constantFrom("none", "length", "chunked"),
      lengthName: fc.constantFrom("Content-Length", "content-length", "CONTENT-LENGTH"),
      body: bodyText,
      chunks: fc.array(bodyText.filter((b) => b.length > 0), { maxLength: 3 }),
      trailer: fc.boolean(),
    });
    const stream = fc.array(request, { minLength: 1, maxLength: 8 }).map((requests) => {
      let input = "";
      let expected = "";
      const lists: boolean[] = [];
      for (const r of requests) {
        let rest = "";
        if (r.framing === "length") rest = `${r.lengthName}: ${r.body.length}\r\n\r\n${r.body}`;
        else if (r.framing === "chunked") {
          rest = "Transfer-Encoding: chunked\r\n\r\n";
          for (const c of r.chunks) rest += `${c.length.toString(16)}\r\n${c}\r\n`;
          rest += `0\r\n${r.trailer ? "X-Trailer: LIST\r\n" : ""}\r\n`;
        } else rest = "\r\n";
        const line = (method: string) => `${r.lead}${method} /v1/secret/metadata/ HTTP/1.1\r\nHost: latchkey\r\n${rest}`;
        input += line(r.method);
        expected += line(r.method === "LIST" ? "BIND" : r.method);
        if (r.method === "LIST" || r.method === "BIND") lists.push(r.method === "LIST");
      }
      return { input, expected, lists };
    });
    fc.assert(
      fc.property(
        stream.chain((s) => cuts(s.input).map((chunks) => ({ ...s, chunks }))),
        ({ expected, lists, chunks }) => {
          const { out, rewriter } = run(chunks);
          expect(out).toBe(expected);
          expect(marks(rewriter, lists.length)).toEqual(lists);
        },
      ),
      { numRuns: 500 },
    );
  });
});
