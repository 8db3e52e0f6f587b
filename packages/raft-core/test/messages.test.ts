// Goal: every message type has an entry in every lookup table (the test fails
// when a new enum value is added without one), peer-input validation rejects
// garbage, and the describe* formats are stable.
// Method: iterate over the MessageType enum; table tests on crafted messages.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EntryType, Message, MessageType } from '@cairn/proto';
import { LOCAL_MESSAGE, MESSAGE_NAME, RESPONSE_MESSAGE } from '../src/messages.js';
import { describeEntry, describeMessage, isLocalMessage, isResponseMessage, isValidPeerMessage } from '../src/index.js';

const allTypes = Object.values(MessageType).filter((value): value is MessageType => typeof value === 'number');

describe('message tables', () => {
  test('every MessageType value has an entry in every table', () => {
    for (const type of allTypes) {
      assert.equal(typeof LOCAL_MESSAGE[type], 'boolean', `LOCAL_MESSAGE lacks ${type}`);
      assert.equal(typeof RESPONSE_MESSAGE[type], 'boolean', `RESPONSE_MESSAGE lacks ${type}`);
      assert.equal(typeof MESSAGE_NAME[type], 'string', `MESSAGE_NAME lacks ${type}`);
    }
  });

  test('local and response classifications match etcd', () => {
    const local = allTypes.filter(isLocalMessage).sort((a, b) => a - b);
    assert.deepEqual(
      local,
      [MessageType.HUP, MessageType.BEAT, MessageType.SNAP_STATUS, MessageType.UNREACHABLE, MessageType.CHECK_QUORUM].sort((a, b) => a - b),
    );
    for (const type of [
      MessageType.APP_RESP,
      MessageType.VOTE_RESP,
      MessageType.PRE_VOTE_RESP,
      MessageType.HEARTBEAT_RESP,
      MessageType.READ_INDEX_RESP,
    ]) {
      assert.equal(isResponseMessage(type), true);
    }
    assert.equal(isResponseMessage(MessageType.APP), false);
  });
});

describe('isValidPeerMessage', () => {
  const valid = Message.fromPartial({
    type: MessageType.APP,
    from: 1,
    to: 2,
    term: 3,
    index: 4,
    logTerm: 2,
    entries: [{ index: 5, term: 3 }],
  });
  const cases: Array<[string, Partial<Message>]> = [
    ['local type', { type: MessageType.HUP }],
    ['unknown type', { type: 77 as MessageType }],
    ['addressed to someone else', { to: 3 }],
    ['from no one', { from: 0 }],
    ['from itself', { from: 2 }],
    ['negative term', { term: -1 }],
    ['fractional index', { index: 1.5 }],
    ['zero term on an append', { term: 0 }],
    ['entries out of sequence', { entries: [{ index: 7, term: 3, type: EntryType.NORMAL, data: Buffer.alloc(0) }] }],
    ['entry term above the message term', { entries: [{ index: 5, term: 4, type: EntryType.NORMAL, data: Buffer.alloc(0) }] }],
    ['snapshot without metadata', { type: MessageType.SNAP, entries: [] }],
    ['proposal with a term', { type: MessageType.PROP }],
  ];
  test('accepts a well-formed append', () => assert.equal(isValidPeerMessage(valid, 2), true));
  for (const [name, change] of cases) {
    test(`rejects ${name}`, () => assert.equal(isValidPeerMessage({ ...valid, ...change }, 2), false));
  }
});

describe('describe formats', () => {
  test('describeMessage is compact and stable', () => {
    const message = Message.fromPartial({
      type: MessageType.APP,
      from: 1,
      to: 2,
      term: 1,
      logTerm: 1,
      index: 11,
      commit: 11,
      entries: [{ term: 1, index: 12, type: EntryType.NORMAL, data: Buffer.from('prop_1') }],
    });
    assert.equal(describeMessage(message), '1->2 MsgApp Term:1 Log:1/11 Commit:11 Entries:[1/12 EntryNormal "prop_1"]');
  });

  test('describeEntry marks conf changes', () => {
    assert.equal(describeEntry({ term: 2, index: 3, type: EntryType.CONF_CHANGE, data: Buffer.alloc(0) }), '2/3 EntryConfChange');
  });
});
