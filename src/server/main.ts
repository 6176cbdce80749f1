export interface ServerOptions {
  config?: string;
  dev?: boolean;
  devRootToken?: string;
  listen?: string;
  logLevel?: string;
}

/** Starts `latchkey server` and resolves when it has shut down (SIGTERM/SIGINT). */
export async function runServer(_opts: ServerOptions): Promise<void> {
  throw new Error("not implemented yet");
}
