import type { Scenario } from "../lib/types.js";
import { floorLogin } from "./floor-login-batch.js";

/** The floor of `k8s-login-jwks-service`: a service token has to be stored, with its lease, in one commit. */
export const floorLoginService: Scenario = {
  name: "floor-login-service",
  about: "floor-login-batch plus one SQLite transaction writing the token row and its lease row",
  baseline: "fastify-hello-world",
  run: (ctx) => floorLogin(ctx, "login-service"),
};
