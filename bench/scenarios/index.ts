import type { Scenario } from "../lib/types.js";
import { authTokenLookupSelf } from "./auth-token-lookup-self.js";
import { fastifyHelloWorld } from "./fastify-hello-world.js";
import { kvV2ReadSqlite } from "./kv-v2-read-sqlite.js";
import { kvV2WriteSqlite } from "./kv-v2-write-sqlite.js";
import { tokens1m } from "./tokens-1m.js";

/** Every scenario, in run order: a baseline comes before the scenarios compared with it. */
export const SCENARIOS: Scenario[] = [
  fastifyHelloWorld,
  authTokenLookupSelf,
  kvV2ReadSqlite,
  kvV2WriteSqlite,
  tokens1m,
];
