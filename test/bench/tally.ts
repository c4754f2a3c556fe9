// What a batch of sends came to, and how two tallies add up. Its own module, free of side
// effects, because both sides use it: the load-worker process (whose module installs process
// handlers when loaded) and the bench that adds up the workers' answers.

/** Refusals are chat errors (the send committed but was refused, e.g. MAILBOX_FULL); errors are
 *  ClientErrors (no answer learnt). */
export interface SendTally {
  acked: number;
  refused: Record<string, number>;
  errors: Record<string, number>;
}

export function newTally(): SendTally {
  return { acked: 0, refused: {}, errors: {} };
}

/** Adds `from` into `into` and returns `into`. */
export function addTally(into: SendTally, from: SendTally): SendTally {
  into.acked += from.acked;
  for (const [code, n] of Object.entries(from.refused)) into.refused[code] = (into.refused[code] ?? 0) + n;
  for (const [code, n] of Object.entries(from.errors)) into.errors[code] = (into.errors[code] ?? 0) + n;
  return into;
}
