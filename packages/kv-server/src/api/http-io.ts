/** Request-body reading, JSON replies and query-parameter parsing shared by the HTTP handlers. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidArgumentError, ValueTooLargeError } from '../errors.js';

/** The whole body, refused (declared length first, then bytes as they come) once past `bytesMax`. */
export function readBody(request: IncomingMessage, bytesMax: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > bytesMax) {
      request.resume();
      return reject(new ValueTooLargeError(declared, bytesMax));
    }
    const parts: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > bytesMax) {
        request.removeAllListeners('data');
        request.resume();
        reject(new ValueTooLargeError(size, bytesMax));
        return;
      }
      parts.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(parts)));
    request.on('error', reject);
  });
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.statusCode = status;
  response.setHeader('content-type', 'application/json');
  response.end(JSON.stringify(body) + '\n');
}

/** A query parameter as a non-negative integer (1 to 16 digits, safe); anything else throws `message`. */
export function parseUintParam(text: string, message: string): number {
  const value = /^[0-9]{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value)) throw new InvalidArgumentError(message);
  return value;
}
