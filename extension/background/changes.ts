/** "Something this service owns moved": listeners decide what that means for them. */
export class Changes {
  private readonly listeners = new Set<() => void>();

  on(listener: () => void): void {
    this.listeners.add(listener);
  }

  emit(): void {
    for (const listener of this.listeners) listener();
  }
}
