/** A single-consumer async queue: the engine pushes chunks, the request's stream pulls them. */
export class ChunkQueue<T> {
  private readonly items: T[] = [];
  private waiter: (() => void) | undefined;
  private isClosed = false;
  private failure: unknown;

  push(item: T): void {
    this.items.push(item);
    this.wake();
  }

  close(): void {
    this.isClosed = true;
    this.wake();
  }

  fail(error: unknown): void {
    this.failure = error ?? new Error('unknown failure');
    this.close();
  }

  async *drain(): AsyncGenerator<T> {
    while (true) {
      if (this.items.length > 0) {
        yield this.items.shift()!;
        continue;
      }
      if (this.failure !== undefined) throw this.failure;
      if (this.isClosed) return;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}
