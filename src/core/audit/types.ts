import type { Operation, TokenType } from "../types.js";

/**
 * What the core hands the audit broker. The request side mirrors latchkey's own
 * objects (TokenEntry, LogicalRequest); the response side mirrors the parts of
 * Vault's response envelope (`lease_id`, `client_token`) as sent to the client.
 * Nothing here is written as given: the broker builds a new, hashed AuditLine.
 */
export interface AuditAuth {
  /** The raw client token, hashed before writing; then `sys/audit-hash` of the token finds it in the log. */
  clientToken?: string;
  /** The token's storage key, used (hashed) when the raw token is not at hand. */
  clientTokenKey?: string;
  accessor?: string;
  displayName?: string;
  policies?: string[];
  metadata?: Record<string, string> | null;
  tokenType?: TokenType;
}

export interface AuditRequestInfo {
  id: string;
  operation: Operation;
  mountType?: string;
  mountPoint?: string;
  /** Defaults to the auth block's token. */
  clientToken?: string;
  /** Defaults to the auth block's accessor. */
  clientTokenAccessor?: string;
  /** Relative to `/v1/`; never hashed, so it must not carry secrets (Vault's paths do not). */
  path: string;
  data?: Record<string, unknown>;
  remoteAddress?: string;
}

export interface AuditRequest {
  /** ISO 8601; the broker stamps its own clock when absent. */
  time?: string;
  auth?: AuditAuth;
  request: AuditRequestInfo;
  /** The error returned to the client, if any; the broker hashes the values quoted in it. */
  error?: string;
}

/** The `auth` block of a response that hands out a token (login, token create/renew), in envelope form. */
export interface AuditResponseAuth {
  client_token?: string;
  accessor?: string;
  policies?: string[];
  metadata?: Record<string, string> | null;
  /** Seconds, as the envelope's `auth.lease_duration`. */
  lease_duration?: number;
}

export interface AuditResponse extends AuditRequest {
  response?: {
    data?: Record<string, unknown>;
    secret?: { lease_id: string };
    auth?: AuditResponseAuth;
    warnings?: string[];
  };
}

/** One line of the audit log, in the shape of Vault's audit entries; every secret-bearing string is an HMAC. */
export interface AuditLine {
  time: string;
  type: "request" | "response";
  auth?: {
    client_token?: string;
    accessor?: string;
    display_name?: string;
    policies?: string[];
    metadata?: unknown;
    token_type?: TokenType;
  };
  request: {
    id: string;
    operation: Operation;
    mount_type?: string;
    mount_point?: string;
    client_token?: string;
    client_token_accessor?: string;
    path: string;
    data?: unknown;
    remote_address?: string;
  };
  response?: {
    data?: unknown;
    secret?: { lease_id: string };
    auth?: { client_token?: string; accessor?: string; policies?: string[]; metadata?: unknown; token_ttl?: number };
    warnings?: string[];
  };
  error?: string;
}

/** A sink for audit lines with its own salt (Vault's audit "device"). */
export interface AuditDevice {
  readonly type: string;
  readonly description: string;
  /** Shown by sys/audit; never the salt. */
  readonly options: Record<string, string>;
  /** `hmac-sha256:<hex>` of `value` under this device's salt. */
  hash(value: string): string;
  /** Called on enable, so that an unusable destination fails the enable rather than the first request. */
  open(): Promise<void>;
  /** Appends one line (no trailing newline); resolves once it is written, rejects if it cannot be. */
  write(line: string): Promise<void>;
  /** Reopens the destination, for log rotation (SIGHUP). */
  reopen(): Promise<void>;
  close(): Promise<void>;
}
