// Loaded before every test file (Makefile: node --import ./test/support/assert-messages.ts).
//
// When assert.ok fails without a message, Node builds one by reading the caller's source file
// at the failing call's line and column and parsing from there. Under tsx the line and column
// are the transpiled code's (everything on line 1), so Node parses the original file from a
// wrong offset, growing the text line by line until it parses: seconds to minutes per failure,
// during which the test's own timeout cannot fire. A failing test then hangs its file instead of
// failing (and CI runs into its time limit). Supplying a message skips that search; the stack
// trace still names the failing line.

import assert from 'node:assert';

type Ok = (value: unknown, message?: string | Error) => asserts value;

for (const target of [assert, assert.strict]) {
  const ok: Ok = target.ok;
  target.ok = (value: unknown, message?: string | Error): asserts value => {
    ok(value, message ?? 'assertion failed: the value is falsy (the stack shows which assertion)');
  };
}
