import { describe, expect, it } from "vitest";
import type { InjectorOptions } from "./patch.js";
import { answerReview } from "./review.js";

const options: InjectorOptions = {
  agentImage: "latchkey:1",
  latchkeyAddr: "https://latchkey:8200",
  caFile: "/etc/latchkey/ca.crt",
  tokenAudience: "latchkey",
  tokenExpirationSeconds: 600,
  nativeSidecars: false,
};

const review = (annotations: Record<string, string>, operation = "CREATE") => ({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: {
    uid: 'u-"1"',
    kind: { group: "", version: "v1", kind: "Pod" },
    operation,
    namespace: "team",
    object: { metadata: { name: "app", annotations: { "latchkey.io/inject": "true", ...annotations } }, spec: { containers: [{ name: "app", image: "app" }] } },
  },
});

describe("answerReview", () => {
  it.each([
    ["injected", review({ "latchkey.io/role": "app", "latchkey.io/inject-secret-db": "secret/data/db", "latchkey.io/mode": "native-sidecar" })],
    ["refused", review({ "latchkey.io/role": "app", "latchkey.io/mode": "x" })],
    ["unchanged", review({ "latchkey.io/role": "app" })],
    ["refused", review({}, "UPDATE")],
  ])("writes the %s answer's text as the JSON of its body", (result, body) => {
    const answer = answerReview(body, options);
    expect(answer.result).toBe(result);
    expect(JSON.parse(answer.text)).toEqual(answer.body);
  });

  it("builds the agent's flags and projected token from the options, the same for every pod", () => {
    const body = review({ "latchkey.io/role": "app", "latchkey.io/inject-secret-db": "secret/data/db" });
    const first = answerReview(body, options);
    const second = answerReview(body, { ...options, latchkeyAddr: "https://other:8200", tokenExpirationSeconds: 900 });
    const patch = (text: string) => Buffer.from((JSON.parse(text) as { response: { patch: string } }).response.patch, "base64").toString("utf8");
    expect(patch(answerReview(body, options).text)).toBe(patch(first.text));
    expect(patch(first.text)).toContain('"--addr","https://latchkey:8200","--ca-file","/etc/latchkey/ca.crt","--auth-path"');
    expect(patch(first.text)).toContain('"expirationSeconds":600');
    expect(patch(second.text)).toContain('"--addr","https://other:8200","--ca-file"');
    expect(patch(second.text)).toContain('"expirationSeconds":900');
    expect(patch(second.text)).toContain('{"name":"LATCHKEY_ADDR","value":"https://other:8200"}');
  });

  it("answers with only the fields that apply: no warnings key without warnings", () => {
    const plain = { ...review({}), request: { ...review({}).request, object: { metadata: { name: "app" }, spec: { containers: [] } } } };
    expect(JSON.parse(answerReview(plain, options).text)).toEqual({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: 'u-"1"', allowed: true },
    });
    const refused = JSON.parse(answerReview(review({ "latchkey.io/role": "app", "latchkey.io/mode": "x" }), options).text);
    expect(Object.keys(refused.response)).toEqual(["uid", "allowed", "status"]);
    const injected = JSON.parse(answerReview(review({ "latchkey.io/role": "app", "latchkey.io/inject-secret-db": "secret/data/db" }), options).text);
    expect(Object.keys(injected.response)).toEqual(["uid", "allowed", "patchType", "patch"]);
  });
});
