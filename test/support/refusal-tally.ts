import type { TestStack } from './stack.js';

/**
 * Counts hostile requests for the reliability report: how many were answered 4xx, and how many
 * objects or items they wrote between them (the promise is none).
 */
export class RefusalTally {
  runs = 0;
  answered4xx = 0;
  written = 0;

  /** `stackOf`: the stack the requests go to (a file starts it in `beforeAll`, after this is made) */
  constructor(private readonly stackOf: () => Pick<TestStack, 'objectKeys' | 'itemKeys'>) {}

  /** Sends one request and counts its answer and what the bucket and table gained meanwhile. */
  async send<R extends { status: number }>(
    post: () => Promise<R>,
  ): Promise<{ res: R; objectsBefore: string[]; objectsAfter: string[]; itemsBefore: string[]; itemsAfter: string[] }> {
    const stack = this.stackOf();
    const objectsBefore = await stack.objectKeys();
    const itemsBefore = await stack.itemKeys();
    const res = await post();
    const objectsAfter = await stack.objectKeys();
    const itemsAfter = await stack.itemKeys();
    this.runs += 1;
    if (res.status >= 400 && res.status < 500) this.answered4xx += 1;
    this.written += objectsAfter.length - objectsBefore.length + itemsAfter.length - itemsBefore.length;
    return { res, objectsBefore, objectsAfter, itemsBefore, itemsAfter };
  }

  /** The reliability row's outcome. */
  outcome(): string {
    return `${this.answered4xx}/${this.runs} answered 4xx with a code and a sentence; objects or items written: ${this.written}`;
  }
}
