/**
 * The highest terms seen in one peer's messages since this process started,
 * for its startup check (lost-disk-check.ts): those of its current run kept
 * apart from those of its earlier runs, since only the latter show that its
 * disk went back (its current run may have moved on while it asked).
 */
export class TermsSeen {
  private incarnation = 0;
  private current = 0;
  private earlier = 0;

  saw(incarnation: number, term: number): void {
    if (incarnation !== this.incarnation) {
      this.earlier = Math.max(this.earlier, this.current);
      this.incarnation = incarnation;
      this.current = 0;
    }
    if (term > this.current) this.current = term;
  }

  /** The highest term seen from runs other than `incarnation`. */
  before(incarnation: number): number {
    return incarnation === this.incarnation ? this.earlier : Math.max(this.earlier, this.current);
  }
}
