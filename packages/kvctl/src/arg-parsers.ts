/** Argument parsers for commander: each returns the value or throws commander's InvalidArgumentError (a usage error). */
import { InvalidArgumentError } from 'commander';

export function isAddress(text: string): boolean {
  const match = /^(.+):(\d{1,5})$/.exec(text);
  if (match === null) return false;
  const port = Number(match[2]);
  return port > 0 && port <= 65_535;
}

export function parseAddress(text: string): string {
  if (!isAddress(text)) throw new InvalidArgumentError('must be host:port.');
  return text;
}

export function parsePositiveInteger(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError('must be a positive integer.');
  return value;
}

export function parsePort(text: string): number {
  const value = parsePositiveInteger(text);
  if (value > 65_535) throw new InvalidArgumentError('must be a port, 1..65535.');
  return value;
}

export function parseNonNegativeInteger(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) throw new InvalidArgumentError('must be a non-negative integer.');
  return value;
}

export function parsePositiveNumber(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) throw new InvalidArgumentError('must be a positive number.');
  return value;
}

export function parseRatio(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1) throw new InvalidArgumentError('must be between 0 and 1.');
  return value;
}

/** A lease id: decimal, or hex with 0x (as etcdctl prints them). */
export function parseLeaseId(text: string): number {
  const value = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text.slice(2), 16) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError('must be a lease id (a positive integer, or hex with 0x).');
  return value;
}
