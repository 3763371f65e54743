/**
 * `$$.State` for the interpreter, which never fills it: which state is being evaluated (Name,
 * EnteredTime) and how many attempts its Task made (RetryCount). Fed by the hooks that
 * `instrumentMachine` puts into the per-execution copy of the definition.
 */
/** Tracks which state is being evaluated, for `$$.State`. */
export class StateTracker {
  private readonly entries = new Map<string, { enteredTime: string; attempts: number }>();
  private focused: string | undefined;

  enter(stateName: string): void {
    this.entries.set(stateName, { enteredTime: new Date().toISOString(), attempts: 0 });
    this.focused = stateName;
  }

  focus(stateName: string): void {
    this.focused = stateName;
  }

  countAttempt(stateName: string): void {
    const entry = this.entries.get(stateName);
    if (entry) entry.attempts += 1;
  }

  /** The live `$$.State` object. */
  view(): Record<string, unknown> {
    const current = () => (this.focused === undefined ? undefined : this.entries.get(this.focused));
    return Object.defineProperties(
      {},
      {
        Name: { enumerable: true, get: () => this.focused },
        EnteredTime: { enumerable: true, get: () => current()?.enteredTime },
        RetryCount: { enumerable: true, get: () => current()?.attempts ?? 0 },
      },
    );
  }
}
