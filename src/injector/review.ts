/**
 * AdmissionReview in, AdmissionReview out (admission.k8s.io/v1 and v1beta1,
 * answered in the request's version). Pure: no network call while a review
 * is answered.
 */
import { objectOf, optedIn, stringMap } from "./annotations.js";
import { decide, type InjectorOptions } from "./patch.js";

export const REVIEW_VERSIONS = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"] as const;

/** A body the API server would never send; answered with 400 and this message. */
export class MalformedReview extends Error {
  override readonly name = "MalformedReview";
}

export type ReviewResult = "injected" | "unchanged" | "refused" | "unhandled";

export interface ReviewAnswer {
  result: ReviewResult;
  /** `body` as JSON, the patch's base64 spliced in rather than scanned again by JSON.stringify. */
  text: string;
  body: {
    apiVersion: string;
    kind: "AdmissionReview";
    response: {
      uid: string;
      allowed: boolean;
      patchType?: "JSONPatch";
      patch?: string;
      warnings?: string[];
      status?: { code: number; message: string };
    };
  };
}

/** Answers one AdmissionReview body; throws MalformedReview for a body that is not one. */
export function answerReview(body: unknown, options: InjectorOptions): ReviewAnswer {
  const review = objectOf(body);
  if (!review) throw new MalformedReview("the body must be a JSON AdmissionReview object");
  const apiVersion = review["apiVersion"];
  if (typeof apiVersion !== "string" || !(REVIEW_VERSIONS as readonly string[]).includes(apiVersion)) {
    throw new MalformedReview(`apiVersion must be one of ${REVIEW_VERSIONS.join(", ")}`);
  }
  if (review["kind"] !== "AdmissionReview") throw new MalformedReview('kind must be "AdmissionReview"');
  const request = objectOf(review["request"]);
  if (!request) throw new MalformedReview("request is missing");
  const uid = request["uid"];
  if (typeof uid !== "string" || uid === "") throw new MalformedReview("request.uid is missing");

  const answer = (result: ReviewResult, response: Omit<ReviewAnswer["body"]["response"], "uid">): ReviewAnswer => {
    // Field by field: spreading `response` into a new object costs microseconds on Node 20.
    const out: ReviewAnswer["body"]["response"] = { uid, allowed: response.allowed };
    if (response.patchType !== undefined) out.patchType = response.patchType;
    if (response.patch !== undefined) out.patch = response.patch;
    if (response.status !== undefined) out.status = response.status;
    if (response.warnings?.length) out.warnings = response.warnings;
    const body: ReviewAnswer["body"] = { apiVersion, kind: "AdmissionReview", response: out };
    if (response.patch === undefined) return { result, text: JSON.stringify(body), body };
    // Base64 needs no escaping: the answer's last two characters close response and the review.
    const rest = JSON.stringify({ ...body, response: { ...body.response, patch: undefined } });
    return { result, text: `${rest.slice(0, -2)},"patch":"${response.patch}"}}`, body };
  };
  const pod = request["object"];
  const kind = objectOf(request["kind"]);
  const namespace = typeof request["namespace"] === "string" ? request["namespace"] : undefined;
  if (kind?.["kind"] !== "Pod" || request["operation"] !== "CREATE" || request["subResource"] !== undefined) {
    // Only pod creation is injected; anything else the configuration routes
    // here is let through, refused only when an opted-in pod would lose its secrets.
    return unhandled(answer, pod, "latchkey injects pods on CREATE only");
  }
  try {
    const decision = decide(pod, namespace, options);
    if (decision.kind === "refused") {
      return answer("refused", { allowed: false, status: { code: 400, message: `latchkey: ${decision.message}` } });
    }
    if (decision.kind === "unchanged") return answer("unchanged", { allowed: true, warnings: decision.warnings });
    return answer("injected", {
      allowed: true,
      patchType: "JSONPatch",
      patch: Buffer.from(JSON.stringify(decision.patch)).toString("base64"),
      warnings: decision.warnings,
    });
  } catch {
    return unhandled(answer, pod, "latchkey could not build a patch for this pod");
  }
}

function unhandled(
  answer: (result: ReviewResult, response: Omit<ReviewAnswer["body"]["response"], "uid">) => ReviewAnswer,
  pod: unknown,
  why: string,
): ReviewAnswer {
  const meta = objectOf(objectOf(pod)?.["metadata"]);
  if (optedIn(stringMap(meta?.["annotations"]), stringMap(meta?.["labels"]))) {
    // Fail closed: an opted-in pod never starts without its secrets.
    return answer("refused", { allowed: false, status: { code: 400, message: why } });
  }
  return answer("unhandled", { allowed: true, warnings: [why] });
}
