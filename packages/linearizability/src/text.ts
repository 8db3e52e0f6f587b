/** Text forms shared by the checker's report and kvctl's output: tables and bytes for people. */

/** A table as text cells; kvctl's plain and Ink renderers lay it out too. */
export interface TextTable {
  readonly headers: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** Lays a table out as aligned text columns separated by two spaces. */
export function layoutTable(table: TextTable): string {
  const all = [table.headers, ...table.rows];
  const widths = table.headers.map((_header, column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  return all
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes as text when they are printable UTF-8, else `0x…` hex, so a terminal is never fed raw control bytes. */
export function displayBytes(bytes: Buffer): string {
  const text = decodeUtf8(bytes);
  if (text !== undefined && !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(text)) return text;
  return `0x${bytes.toString('hex')}`;
}

/** The bytes as UTF-8 text, or undefined when they are not valid UTF-8. */
export function decodeUtf8(bytes: Buffer): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}
