import type { Scenario } from "../lib/types.js";
import { admissionReview } from "./admission-review.js";
import { agentIdle } from "./agent-idle.js";
import { authTokenLookupSelf } from "./auth-token-lookup-self.js";
import { fastifyHelloWorld } from "./fastify-hello-world.js";
import { floorKvRead } from "./floor-kv-read.js";
import { floorLoginBatch } from "./floor-login-batch.js";
import { floorLoginService } from "./floor-login-service.js";
import { floorTokenRead } from "./floor-token-read.js";
import { k8sLoginJwksServicePg1, k8sLoginJwksServicePg2, kvV2ReadPg1, kvV2ReadPg2 } from "./ha-postgres.js";
import { k8sCredsDynamicRole, k8sCredsDynamicRoleDirect, k8sCredsDynamicRolePrepared } from "./k8s-creds-dynamic-role.js";
import { k8sCredsFixed, k8sCredsFixedDirect, k8sCredsFixedPrepared } from "./k8s-creds-fixed.js";
import { k8sCredsGeneratedRules, k8sCredsGeneratedRulesDirect, k8sCredsGeneratedRulesPrepared } from "./k8s-creds-generated-rules.js";
import { k8sLoginJwksBatch } from "./k8s-login-jwks-batch.js";
import { k8sLoginJwksService } from "./k8s-login-jwks-service.js";
import { k8sLoginTokenreviewCached } from "./k8s-login-tokenreview-cached.js";
import { k8sLoginTokenreview } from "./k8s-login-tokenreview.js";
import { k8sTokenreviewDirect } from "./k8s-tokenreview-direct.js";
import { kvV2ReadSqlite } from "./kv-v2-read-sqlite.js";
import { kvV2WriteSqlite } from "./kv-v2-write-sqlite.js";
import { loginStorm1000 } from "./login-storm-1000.js";
import { podCreateWithWebhook } from "./pod-create-with-webhook.js";
import { rs256VerifyRaw } from "./rs256-verify-raw.js";
import { tokens1m } from "./tokens-1m.js";

/** Every scenario, in run order: a baseline or floor comes before the scenarios compared with it. */
export const SCENARIOS: Scenario[] = [
  fastifyHelloWorld,
  admissionReview,
  podCreateWithWebhook,
  agentIdle,
  floorTokenRead,
  authTokenLookupSelf,
  floorKvRead,
  kvV2ReadSqlite,
  kvV2WriteSqlite,
  kvV2ReadPg1,
  kvV2ReadPg2,
  rs256VerifyRaw,
  floorLoginService,
  k8sLoginJwksService,
  k8sLoginJwksServicePg1,
  k8sLoginJwksServicePg2,
  floorLoginBatch,
  k8sLoginJwksBatch,
  k8sTokenreviewDirect,
  k8sLoginTokenreview,
  k8sLoginTokenreviewCached,
  k8sCredsFixedDirect,
  k8sCredsFixed,
  k8sCredsFixedPrepared,
  k8sCredsDynamicRoleDirect,
  k8sCredsDynamicRole,
  k8sCredsDynamicRolePrepared,
  k8sCredsGeneratedRulesDirect,
  k8sCredsGeneratedRules,
  k8sCredsGeneratedRulesPrepared,
  loginStorm1000,
  tokens1m,
];
