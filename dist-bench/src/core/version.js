/** Reported by sys/health and `latchkey version`. */
export const VERSION = "0.1.0";
