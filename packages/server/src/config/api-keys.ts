/**
 * The API keys of `--api-key`: a comma-separated list, every key accepted, so keys rotate without
 * downtime (deploy `new,old`, move the backends to `new`, then deploy `new`). Blanks around a key and
 * empty items are dropped; a key therefore never contains a comma.
 */
export function apiKeyList(apiKey: string | undefined): readonly string[] {
  if (apiKey === undefined) return [];
  return apiKey
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key !== '');
}
