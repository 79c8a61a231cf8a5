import type { Socket } from "node:net";

/** Joins two sockets both ways; either side's end or error ends both. */
export function join(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const end = (): void => {
    a.destroy();
    b.destroy();
  };
  for (const s of [a, b]) {
    s.once("error", end);
    s.once("close", end);
  }
}
