/** One timer that fires at the earliest requested time; later requests never push it back. */
export class WakeTimer {
  private timer: NodeJS.Timeout | undefined;
  private at = Number.POSITIVE_INFINITY;

  constructor(private readonly onWake: () => void) {}

  wakeAt(at: number, now: number): void {
    if (at >= this.at) return;
    this.cancel();
    this.at = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.at = Number.POSITIVE_INFINITY;
      this.onWake();
    }, Math.max(0, at - now));
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.at = Number.POSITIVE_INFINITY;
  }
}
