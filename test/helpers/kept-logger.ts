/** A server logger that keeps its lines, to see what reached the server log. */
import { createLogger } from "../../src/server/index.ts";

type Logger = ReturnType<typeof createLogger>;

export function keptLogger(level: "info" | "debug" = "info"): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({
    level,
    destination: {
      write(line: string) {
        lines.push(line);
      },
    },
  });
  return { logger, lines };
}
