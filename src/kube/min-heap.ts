// Binary min-heap operations on a plain array the caller owns, so that it can
// read the earliest entry as `heap[0]` and keep entries of its own type.

/** What the heap orders by: after every operation `heap[0]` has the smallest `at`. */
export interface HeapEntry {
  at: number;
}

/** Adds `entry` to `heap`, keeping the heap order. */
export function heapPush<T extends HeapEntry>(heap: T[], entry: T): void {
  heap.push(entry);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const p = heap[parent];
    const c = heap[i];
    if (!p || !c || p.at <= c.at) break;
    heap[parent] = c;
    heap[i] = p;
    i = parent;
  }
}

/** Removes the minimum, `heap[0]`, keeping the heap order; a no-op on an empty heap. */
export function heapPop(heap: HeapEntry[]): void {
  const last = heap.pop();
  if (last === undefined || heap.length === 0) return;
  heap[0] = last;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let smallest = i;
    const at = (k: number): number => heap[k]?.at ?? Infinity;
    if (at(l) < at(smallest)) smallest = l;
    if (at(r) < at(smallest)) smallest = r;
    if (smallest === i) return;
    const a = heap[i];
    const b = heap[smallest];
    if (!a || !b) return;
    heap[i] = b;
    heap[smallest] = a;
    i = smallest;
  }
}
