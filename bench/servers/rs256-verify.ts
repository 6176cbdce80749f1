// The signature ceiling of a JWKS login: a bare fastify server in its own
// process that verifies each posted JWT with jose against a key imported once.
// `node rs256-verify.js '<public JWK>'` prints its address.
import fastify from "fastify";
import { compactVerify, importJWK, type JWK } from "jose";

const key = await importJWK(JSON.parse(process.argv[2]) as JWK, "RS256");
const app = fastify({ logger: false });
app.post<{ Body: { jwt: string } }>("/", async (req, reply) => {
  await compactVerify(req.body.jwt, key, { algorithms: ["RS256"] });
  return reply.header("cache-control", "no-store").send({ verified: true });
});
const address = await app.listen({ host: "127.0.0.1", port: 0 });
process.stdout.write(`Address: ${address}\n`);
process.once("SIGTERM", () => void app.close().then(() => process.exit(0)));
