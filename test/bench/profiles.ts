// The replicas' CPU profiles (--profile), each named by the replica and the role it had when
// profiled: the files are named by pid, which means nothing to a reader.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Roles } from './cluster-run.js';
import { loadProfile, summarizeProfile, type ProfileSummary } from './profile-summary.js';

export interface ProfileReport {
  replica: number;
  role: string;
  file: string;
  summary: ProfileSummary;
}

/** The profiles in `dir` of the pids in `roles`, primary first, then backups, then start-ups. */
export function collectProfiles(dir: string, roles: Roles): ProfileReport[] {
  const out: ProfileReport[] = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.cpuprofile')).sort()) {
    const pid = Number(/replica-(\d+)\.cpuprofile/.exec(name)?.[1]);
    const who = roles.get(pid);
    if (!who) continue;
    const file = join(dir, name);
    out.push({ replica: who.replica, role: who.role, file, summary: summarizeProfile(loadProfile(file), 20) });
  }
  const order = ['primary', 'backup', 'start-up'];
  return out.sort((a, b) => order.indexOf(a.role) - order.indexOf(b.role) || a.replica - b.replica);
}
