/** Beyond this many edits a name is a different word, not a typo of it. */
const MAX_EDITS = 2;

/**
 * The candidate `name` is most likely a typo of (`prot` → `port`, `AGENTCAST_PROT` → `AGENTCAST_PORT`):
 * the one fewest edits away (insert, delete, replace, or swap two neighbours), at most two and fewer than
 * half the name's length; ties go to the first candidate. `undefined` when none is that close.
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestEdits = Math.min(MAX_EDITS, Math.ceil(name.length / 2) - 1) + 1;
  for (const candidate of candidates) {
    const edits = editDistance(name, candidate);
    if (edits < bestEdits) {
      best = candidate;
      bestEdits = edits;
    }
  }
  return best;
}

/** Optimal string alignment distance: Levenshtein plus the swap of two neighbouring characters. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const above = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      row.push(d);
    }
    rows.push(row);
  }
  return (rows[a.length] as number[])[b.length] as number;
}
