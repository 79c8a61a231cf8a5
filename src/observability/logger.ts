import { pino } from "pino";
import type { Logger, LevelWithSilent } from "pino";

export type { Logger };

/**
 * Creates the root JSON logger. Field names follow controller-runtime's logr
 * keys (`controller`, `namespace`, `name`, `reconcileID`) so that log queries
 * written for Go operators carry over; errors go under `err`.
 */
export function createLogger(
  level: LevelWithSilent = "info",
  destination?: NodeJS.WritableStream,
): Logger {
  return pino(
    {
      level,
      base: { logger: "podium" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      messageKey: "msg",
    },
    destination ?? pino.destination({ sync: false }),
  );
}
