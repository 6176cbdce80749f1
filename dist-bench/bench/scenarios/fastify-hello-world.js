import { join } from "node:path";
import { measureHttp } from "../lib/measure.js";
import { profileFlags } from "../lib/latchkey.js";
import { BENCH_DIST, spawnNode, waitForOutput } from "../lib/processes.js";
/** The HTTP ceiling of this machine: the baseline of every latchkey HTTP scenario. */
export const fastifyHelloWorld = {
    name: "fastify-hello-world",
    about: "GET / on a bare fastify server (same process model): the HTTP ceiling",
    async run(ctx) {
        const server = spawnNode([join(BENCH_DIST, "servers", "hello-world.js")], {
            cpus: ctx.settings.cpus?.server,
            nodeFlags: profileFlags(ctx, "fastify-hello-world"),
        });
        ctx.defer(() => server.stop());
        const [, url] = await waitForOutput(server, /Address: (\S+)/);
        return measureHttp(ctx, server, { url, request: { method: "GET", path: "/" } });
    },
};
