/**
 * The contract between the runner and a scenario. A scenario is one module in
 * bench/scenarios/ that exports a `Scenario`; adding one is that module plus
 * one line in bench/scenarios/index.ts.
 */
export {};
