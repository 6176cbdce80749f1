import type { ServerResponse } from "node:http";

/**
 * The signal a request's outside calls (TokenReview, the cluster's JWKS) take:
 * aborted once the client has gone away, that is once the response closed
 * before it finished. It is made on first use — most requests (token lookups,
 * reads from storage) make no outside call, and an AbortController with a close
 * listener per request was a measurable share of their cost.
 */
export function clientGoneSignal(res: ServerResponse): () => AbortSignal {
  let controller: AbortController | undefined;
  return () => {
    if (controller) return controller.signal;
    const made = new AbortController();
    controller = made;
    // The request stream closes once its body is read; only the response closing
    // before it finished means the client went away. It may have gone already.
    if (res.destroyed) {
      if (!res.writableFinished) made.abort();
    } else {
      res.once("close", () => {
        if (!res.writableFinished) made.abort();
      });
    }
    return made.signal;
  };
}
