import { decodeUtf8 } from '@cairn/linearizability';

/** JSON form of bytes: a string when valid UTF-8, else `{ base64 }` so nothing is lost or mangled. */
export function jsonBytes(bytes: Buffer): string | { base64: string } {
  return decodeUtf8(bytes) ?? { base64: bytes.toString('base64') };
}
