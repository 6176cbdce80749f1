import { Option } from "commander";
import { defineAction, type CommandGroup } from "./command.js";
import { attempt } from "./errors.js";

/** `injector`: the mutating admission webhook that adds the latchkey agent to opted-in pods. */
export const registerInjector: CommandGroup = (program, ctx) => {
  const injector = program
    .command("injector")
    .description("run the admission webhook that injects the latchkey agent into pods")
    .option("--listen <host:port>", "address to listen on", "0.0.0.0:8443")
    .requiredOption("--latchkey-addr <url>", "latchkey server URL, written into the agents' LATCHKEY_ADDR")
    .requiredOption("--agent-image <image>", "image holding /latchkey/bin/latchkey")
    .option("--agent-ca-file <path>", "the server's CA inside the agent containers (passed as --ca-file)")
    .option("--token-audience <aud>", "audience of the projected token for pods without a token mount", "latchkey")
    .option("--token-expiration <duration>", "lifetime of that projected token (at least 10m)", "10m")
    .option("--tls-cert-file <path>", "serving certificate (PEM), reloaded when it changes")
    .option("--tls-key-file <path>", "serving key (PEM), reloaded when it changes")
    .option("--tls-auto", "generate and renew the CA and serving certificate, keeping the webhook's caBundle current")
    .option("--webhook-config-name <name>", "the MutatingWebhookConfiguration whose caBundle --tls-auto maintains")
    .option("--tls-hosts <h1,h2>", "DNS names and IP addresses of the generated serving certificate")
    .option("--tls-validity <duration>", "validity of the generated serving certificate", "720h")
    .option("--tls-secret-name <name>", "with --tls-auto and several replicas: the Secret they share the CA and certificate through, written by the holder of the Lease of that name")
    .option("--leader-lease-duration <duration>", "how long a silent leader keeps that Lease", "15s")
    .option("--kubeconfig <file>", "kubeconfig; default: the pod's service account")
    .addOption(new Option("--native-sidecars <mode>", "inject native sidecars").choices(["auto", "on", "off"]).default("auto"))
    .option("--namespace <ns>", "the injector's own namespace, never injected (default: the pod's)")
    .option("--reconcile-interval <duration>", "how often to look for opted-in pods admitted without injection (0: never)", "60s");
  defineAction<Parameters<typeof import("../injector/run.js").startInjector>[0]>(injector, ctx, async ({ opts }) => {
    const { startInjector } = await import("../injector/run.js");
    const running = await attempt("starting the injector", () => startInjector(opts));
    await new Promise<void>((resolve) => {
      const stop = (): void => resolve();
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
    await running.close();
  });
};
