// The HTTP ceiling: a bare fastify server in a process of its own, answering
// a small JSON body, as latchkey does. `node hello-world.js` prints its address.
import fastify from "fastify";
const app = fastify({ logger: false });
app.get("/", async (_req, reply) => reply.header("cache-control", "no-store").send({ hello: "world" }));
const address = await app.listen({ host: "127.0.0.1", port: 0 });
process.stdout.write(`Address: ${address}\n`);
process.once("SIGTERM", () => void app.close().then(() => process.exit(0)));
