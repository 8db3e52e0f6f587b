/** Stable codes for a history the checker cannot read. */
export type HistoryErrorCode = 'HISTORY_MALFORMED' | 'HISTORY_UNPAIRED';

/** A history that does not follow the clerk's format (packages/clerk/README.md "History format"). */
export class HistoryFormatError extends Error {
  constructor(
    readonly code: HistoryErrorCode,
    message: string,
    /** 1-based line of the offending record, when known. */
    readonly line?: number,
  ) {
    super(line === undefined ? message : `line ${line}: ${message}`);
    this.name = new.target.name;
  }
}
